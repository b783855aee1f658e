-- Shared by every bench script: the bearer token from BENCH_TOKEN, and a one-line JSON summary
-- (`JSON {...}`) that bench/harness.py reads instead of parsing wrk's text report.
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %.1f, "p99_us": %.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
