-- wrk script: POSTs an ACR push body to the webhook, optionally with a new
-- `push_data.digest` on every request so that the component never sees a
-- duplicate.
--
-- wrk -s bench/wrk/webhook.lua URL -- BODY_FILE unique|same
-- The token comes from the environment variable WEBHOOK_TOKEN and is sent as
-- a Bearer header. At the end it prints one `wrk_result {json}` line.

local body_head, body_tail, fixed_body
local unique = true
local counter = 0
local thread_id = 0
local run_id = 0
local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   local file = assert(io.open(args[1], "rb"), "cannot open body file " .. tostring(args[1]))
   local body = file:read("*a")
   file:close()
   unique = (args[2] or "unique") == "unique"

   -- Split the body around the 64 hex digits of the digest.
   local first, last = body:find('"digest"%s*:%s*"sha256:')
   assert(first, "the body has no push_data.digest")
   body_head = body:sub(1, last)
   body_tail = body:sub(last + 65)
   fixed_body = body
   run_id = os.time() % 0x7fffffff

   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("WEBHOOK_TOKEN"), "WEBHOOK_TOKEN is not set")
end

function request()
   if not unique then
      return wrk.format(nil, nil, nil, fixed_body)
   end
   counter = counter + 1
   -- 8 + 8 + 16 + 32 = 64 hex digits, unique per run, thread and request.
   local digest = string.format("%08x%08x%016x%s", run_id, thread_id, counter, string.rep("a", 32))
   return wrk.format(nil, nil, nil, body_head .. digest .. body_tail)
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'wrk_result {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
      '"latency_p50_us":%d,"latency_p90_us":%d,"latency_p99_us":%d,"latency_max_us":%d,"latency_mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
