-- wrk script: each thread walks its own file of pre-signed, distinct requests (bench/signed_requests.py),
-- sends each one once, and sorts the 200 answers into replies (<xml>...), `success` (a reply that came
-- too late, or none at all) and anything else. When a thread's file is used up it sends the URL check
-- (a GET, never a message a second time) and stops; the report says how many such requests were sent.
--
--     wrk -t2 -c64 -d15s --timeout 10s -s bench/walk_requests.lua http://127.0.0.1:PORT -- PREFIX

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local prefix = args[1]
  local file = assert(io.open(prefix .. "." .. id, "rb"))
  local data = file:read("*a")
  file:close()
  file = assert(io.open(prefix .. ".handshake", "rb"))
  handshake = file:read("*a")
  file:close()
  requests = {}
  local pos = 1
  while pos <= #data do
    local newline = string.find(data, "\n", pos, true)
    local length = tonumber(string.sub(data, pos, newline - 1))
    requests[#requests + 1] = string.sub(data, newline + 1, newline + length)
    pos = newline + length + 1
  end
  data = nil
  cursor, replied, late, other, extra = 1, 0, 0, 0, 0
end

function request()
  local raw = requests[cursor]
  if raw == nil then
    extra = extra + 1
    wrk.thread:stop()
    return handshake
  end
  requests[cursor] = nil
  cursor = cursor + 1
  return raw
end

function response(status, headers, body)
  if status == 200 then
    if body == "success" then
      late = late + 1
    elseif string.find(body, "^%s*<xml>") then
      replied = replied + 1
    else
      other = other + 1
    end
  end
end

function done(summary, latency, _)
  local counts = { replied = 0, late = 0, other = 0, extra = 0, sent = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(counts) do
      if name == "sent" then
        counts.sent = counts.sent + thread:get("cursor") - 1
      else
        counts[name] = counts[name] + thread:get(name)
      end
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, '
      .. '"timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "replied": %d, "late": %d, "other": %d, '
      .. '"extra": %d, "sent": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max,
    counts.replied, counts.late, counts.other, counts.extra, counts.sent))
end
