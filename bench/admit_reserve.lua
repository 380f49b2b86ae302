-- Rotates POST /v1/admit with an estimated_cost (a reservation each) over 1,000 features.
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = (n + 1) % 1000
  return wrk.format(nil, "/v1/admit",  nil,
    '{"feature":"f' .. n .. '","priority":"batch","estimated_cost":0.000001}')
end
