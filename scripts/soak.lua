-- wrk script for scripts/soak.sh: short connections (Connection: close),
-- mostly /check_accountexists, some of every other endpoint.

local tag = os.getenv("SOAK_TAG") or "soak"
local sent = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
end

local headers = { ["Content-Type"] = "application/json", ["Connection"] = "close" }

request = function()
  sent = sent + 1
  local n = id * 100000000 + sent
  local r = sent % 1000
  local path, body
  if r < 20 then
    path = "/get_verification"
    body = string.format('{"email":"%s%d@example.com"}', tag, n)
  elseif r < 40 then
    path = "/post_registration"
    body = string.format('{"username":"%s%d","email":"%s%d@example.com","password":"Correct-Horse-7","cpatcha":"000000"}', tag, n, tag, n)
  elseif r < 60 then
    path = "/reset_password"
    body = '{"username":"soaker","email":"soaker@example.com","password":"Correct-Horse-7","cpatcha":"000000"}'
  elseif r < 61 then
    path = "/trylogin_server"
    body = '{"username":"soaker","password":"Wrong-Horse-7"}'
  else
    path = "/check_accountexists"
    body = '{"username":"soaker","email":"soaker@example.com"}'
  end
  return wrk.format("POST", path, headers, body)
end

