-- Rotates GET /v1/admit over 1,000 features, batch priority (the same script drives nginx).
-- With TOLLGATE_BENCH_TOKEN set (run_admit.sh's AUTH=1), each request carries it.
local n = 0
local token = os.getenv("TOLLGATE_BENCH_TOKEN")
local headers = token and { Authorization = "Bearer " .. token } or nil
request = function()
  n = (n + 1) % 1000
  return wrk.format("GET", "/v1/admit?feature=f" .. n .. "&priority=batch", headers)
end
