-- wrk script of bench/run.sh. BENCH_ENDPOINT picks the request:
--   check        /check_accountexists (an account that does not exist)
--   verification /get_verification, a new address each time
--   login        /trylogin_server, the bench account's right password
--   registration /post_registration, a new account with its pre-stored code
--   redis_get    the baseline's one-Redis-GET handler
-- BENCH_CLOSE=1 adds `Connection: close` (a new connection per request).

local endpoint = os.getenv("BENCH_ENDPOINT") or "check"
local run = os.getenv("BENCH_RUN") or "0"
local headers = { ["Content-Type"] = "application/json" }
if os.getenv("BENCH_CLOSE") == "1" then headers["Connection"] = "close" end
local counter = 0
local thread_id = 0
local threads = {}
-- The `error` every answer should carry; anything else is counted.
local expected = { check = "12" }
local wanted = expected[endpoint] or "0"
unexpected = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
  table.insert(threads, thread)
end

response = function(status, headers, body)
  local code = body:match('"error":(%-?%d+)')
  if code ~= wanted then unexpected = unexpected + 1 end
end

done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("unexpected") end
  io.write(string.format("Unexpected answers: %d\n", total))
end

request = function()
  counter = counter + 1
  local path, body
  if endpoint == "check" then
    path, body = "/check_accountexists", '{"username":"bench_nobody","email":"bench_nobody@example.com"}'
  elseif endpoint == "redis_get" then
    path, body = "/redis_get", "{}"
  elseif endpoint == "verification" then
    path = "/get_verification"
    body = string.format('{"email":"v%s_%d_%d@example.com"}', run, id, counter)
  elseif endpoint == "login" then
    path, body = "/trylogin_server", '{"username":"bench_user","password":"Bench-Horse-7"}'
  elseif endpoint == "registration" then
    local n = id * 1000000 + counter
    path = "/post_registration"
    body = string.format(
      '{"username":"r%s_%d","email":"r%s_%d@example.com","password":"Bench-Horse-7","cpatcha":"c%d"}',
      run, n, run, n, n)
  end
  return wrk.format("POST", path, headers, body)
end
