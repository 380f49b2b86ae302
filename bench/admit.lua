-- Rotates GET /v1/admit over 1,000 features, batch priority (the same script drives nginx).
local n = 0
request = function()
  n = (n + 1) % 1000
  return wrk.format("GET", "/v1/admit?feature=f" .. n .. "&priority=batch")
end
