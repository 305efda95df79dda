-- wrk script of the server benchmark: POSTs $BENCH_WRK_BODY as JSON, and when done prints
-- one line "BENCH_WRK_JSON {...}" (counts, errors, latency percentiles in microseconds)
-- for bench/load.py to read: sturdier than parsing the human summary above it.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_WRK_BODY") or ""
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
