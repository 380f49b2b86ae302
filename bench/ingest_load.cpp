// Ingest load generator: C connections (keep-alive) each POST NDJSON batches of B unique events
// to /v1/usage until N events are acknowledged in total. Prints events/s. SHAPE "simple": four
// features, one team (the older benchmarks); "company": event_rows.h's CompanyRow; "wide": the
// same over 10,000 features (the memory benchmark).
//   ingest_load HOST PORT N [CONNECTIONS=8] [BATCH=1000] [ID_PREFIX=ev] [SHAPE=simple]
//               [SPREAD_S=0]
// SPREAD_S: a batch's events are stamped at one time, the batches spread evenly over the SPREAD_S
// seconds before now (a history to restart on), not all now.
// Plain POSIX sockets and HTTP/1.1 with Content-Length: the client must cost far less than the
// server it measures.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "bench/event_rows.h"

namespace {

int connect_to(const char* host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host, &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one response; returns its status and body.
int read_response(int fd, std::string& buf, std::string& body) {
  for (;;) {
    size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      int status = std::atoi(buf.c_str() + 9);
      size_t cl = buf.find("Content-Length: ");
      if (cl == std::string::npos) cl = buf.find("content-length: ");
      size_t len = cl == std::string::npos ? 0 : std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
      while (buf.size() < end + 4 + len) {
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) return -1;
        buf.append(tmp, n);
      }
      body = buf.substr(end + 4, len);
      buf.erase(0, end + 4 + len);
      return status;
    }
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return -1;
    buf.append(tmp, n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: ingest_load HOST PORT N [CONNECTIONS=8] [BATCH=1000] [ID_PREFIX=ev] "
                 "[SHAPE=simple|company|wide] [SPREAD_S=0]\n");
    return 2;
  }
  const char* host = argv[1];
  const int port = std::atoi(argv[2]);
  const long long total = std::atoll(argv[3]);
  const int conns = argc > 4 ? std::atoi(argv[4]) : 8;
  const int batch = argc > 5 ? std::atoi(argv[5]) : 1000;
  const std::string prefix = argc > 6 ? argv[6] : "ev";
  const std::string shape = argc > 7 ? argv[7] : "simple";
  const bool company = shape == "company" || shape == "wide";
  const int features = shape == "wide" ? 10'000 : 50;

  const long long spread_s = argc > 8 ? std::atoll(argv[8]) : 0;
  const std::time_t now = std::time(nullptr);

  std::atomic<long long> next{0}, acked{0}, failures{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c)
    threads.emplace_back([&] {
      int fd = connect_to(host, port);
      std::string buf, body, payload, request;
      for (;;) {
        long long first = next.fetch_add(batch);
        if (first >= total) break;
        long long last = std::min(total, first + batch);
        char ts[32];
        const std::time_t at =
            now - static_cast<std::time_t>(spread_s - spread_s * first / std::max(1LL, total));
        std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&at));
        payload.clear();
        for (long long n = first; n < last; ++n)
          if (company)
            tollgate::bench::append_json(payload,
                                         tollgate::bench::company_row(prefix, n, features), ts);
          else
            tollgate::bench::append_json(payload, tollgate::bench::row(prefix, n), ts);
        request =
            "POST /v1/usage HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-ndjson\r\n"
            "Content-Length: " +
            std::to_string(payload.size()) + "\r\n\r\n" + payload;
        if (!send_all(fd, request) || read_response(fd, buf, body) != 200 ||
            body.find("\"accepted\":" + std::to_string(last - first)) == std::string::npos) {
          failures.fetch_add(1);
          std::fprintf(stderr, "request failed: %s\n", body.c_str());
          break;
        }
        acked.fetch_add(last - first);
      }
      close(fd);
    });
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "ingest: %lld events acknowledged in %.3f s = %.0f events/s (%d connections, batches of "
      "%d)\n",
      acked.load(), secs, acked.load() / secs, conns, batch);
  return failures.load() == 0 ? 0 : 1;
}
