// POST /v1/traces (OTLP/HTTP, protobuf or JSON): GenAI spans from instrumented services become
// usage events, priced and committed like POST /v1/usage, answered with OTLP's partial success.

#include "daemon/api.h"
#include "metering/otlp_decoder.h"

namespace tollgate {

void Api::otlp_traces(const HttpRequest& req, Respond respond) {
  // Protobuf is the exporters' default; JSON when the exporter says so.
  const OtlpEncoding encoding = req.content_type.find("json") != std::string::npos
                                    ? OtlpEncoding::kJson
                                    : OtlpEncoding::kProtobuf;
  const EpochMs now = clock_();
  const EpochMs oldest = now - int64_t(config_.storage.raw_retention_days) * 86'400'000;
  auto decoded = decode_otlp_traces(req.body, encoding, config_.otlp, now, oldest,
                                    config_.limits.max_event_cost);
  if (!decoded.ok()) return respond(error_response(decoded.status()));
  metrics_.record_otlp_skipped(decoded->skipped);
  auto finish = [this, encoding, respond = std::move(respond)](Status status, StoreResult result) {
    if (!status.ok()) {
      auto r = error_response(status);
      r.headers.emplace_back("Retry-After", "1");
      return respond(std::move(r));
    }
    size_t accepted = 0, duplicates = 0;
    std::vector<const UsageEvent*> fresh;
    for (size_t k = 0; k < result.outcome.size(); ++k) {
      if (result.outcome[k] == Stored::kOutOfRange) continue;  // among the rejections
      if (result.outcome[k] == Stored::kDuplicate) {
        ++duplicates;  // a re-sent span: already counted, not rejected
        continue;
      }
      ++accepted;
      fresh.push_back(&result.stored[k]);
    }
    const size_t rejected = result.rejections.size();
    std::string first_error;
    if (rejected) {
      const Rejection& r = result.rejections.front();
      first_error = "span " + r.event_id + ": " + std::string(r.status.code_name()) + ": " +
                    r.status.message();
    }
    metrics_.record_accepted(fresh);
    metrics_.record_ingest(accepted, duplicates, rejected);
    HttpResponse r{200,
                   encoding == OtlpEncoding::kJson ? "application/json" : "application/x-protobuf",
                   otlp_response(encoding, int64_t(rejected), first_error),
                   {}};
    respond(std::move(r));
  };
  store(std::move(decoded->items), std::move(finish), req.received);
}

}  // namespace tollgate
