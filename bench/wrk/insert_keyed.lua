-- POST one new document with an Idempotency-Key of its own (unique per thread, request and run).
dofile(debug.getinfo(1, "S").source:match("@(.*/)") .. "common.lua")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"title":"bench insert","status":"Queued","score":42,"tags":["a","b"]}'

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local run = (os.getenv("BENCH_RUN") or "") .. tostring(os.time())
local counter = 0
function request()
  counter = counter + 1
  wrk.headers["idempotency-key"] = string.format("bench-%s-%d-%d", run, tid or 0, counter)
  return wrk.format()
end
