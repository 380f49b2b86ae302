// Sends GenAI spans to Tollgate with the real OpenTelemetry JS SDK, the way an instrumented
// service does. Usage: node send_spans.js URL proto|json SPECS.json
// SPECS: {"resource": {...attributes}, "spans": [{"name", "attributes": {...}, "error": bool}],
//         "ids": [[traceId, spanId], ...] (optional: fixed ids, to re-send the same spans)}
// Prints {"ok": true} or {"ok": false, "error": "..."} once the exporter has answered.
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter: ProtoExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPTraceExporter: JsonExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const fs = require('fs');

const [url, encoding, specsPath] = process.argv.slice(2);
const specs = JSON.parse(fs.readFileSync(specsPath, 'utf8'));
const Exporter = encoding === 'json' ? JsonExporter : ProtoExporter;
const exporter = new Exporter({ url: url + '/v1/traces', headers: specs.headers || {} });

// Fixed ids when given (a re-sent batch must carry the same trace and span ids).
// The SDK may ask for the span id before the trace id: one counter each.
const random = (n) => require('crypto').randomBytes(n).toString('hex');
let nextTrace = 0;
let nextSpan = 0;
const idGenerator = {
  generateTraceId: () => (specs.ids ? specs.ids[nextTrace++][0] : random(16)),
  generateSpanId: () => (specs.ids ? specs.ids[nextSpan++][1] : random(8)),
};

const results = [];
const recording = {
  export(spans, done) {
    exporter.export(spans, (result) => {
      results.push(result);
      done(result);
    });
  },
  shutdown: () => exporter.shutdown(),
  forceFlush: () => exporter.forceFlush(),
};

const provider = new BasicTracerProvider({
  resource: resourceFromAttributes(specs.resource || {}),
  idGenerator,
  spanProcessors: [new SimpleSpanProcessor(recording)],
});
const tracer = provider.getTracer('tollgate-test');

(async () => {
  for (const s of specs.spans) {
    const span = tracer.startSpan(s.name || 'chat', { attributes: s.attributes || {} });
    if (s.error) span.setStatus({ code: 2, message: 'failed' });
    span.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
  const failed = results.find((r) => r.code !== 0);
  console.log(JSON.stringify(failed ? { ok: false, error: String(failed.error) } : { ok: true, exports: results.length }));
})();
