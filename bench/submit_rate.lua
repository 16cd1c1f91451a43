-- wrk script of bench/submit_rate.py: POSTs one pre-encoded body over and over, keeps the job
-- id of every 2xx answer, and at the end writes a JSON summary and the ids for the checks.
-- Arguments (after `--`): body file, path, content type, bearer token or "".
-- Environment: DCCF_WRK_OUT, where done() writes the summary line and then one id a line.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.path = args[2]
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = args[3]
  if args[4] ~= nil and args[4] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[4]
  end
  ids = {}
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 200 and status < 300 then
    -- v1 answers {"id": N, ...}; the legacy /submit answers the bare number.
    ids[#ids + 1] = body:match('"id":%s*(%d+)') or body:match("^%s*(%d+)")
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("DCCF_WRK_OUT"), "w"))
  local counts = {}
  local all = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
    for _, id in ipairs(thread:get("ids")) do
      all[#all + 1] = id
    end
  end
  local merged = {}
  for status, count in pairs(counts) do
    merged[#merged + 1] = string.format('"%d": %d', status, count)
  end
  local e = summary.errors
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d,'
      .. ' "socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, table.concat(merged, ", ")))
  for _, id in ipairs(all) do
    out:write(id, "\n")
  end
  out:close()
end
