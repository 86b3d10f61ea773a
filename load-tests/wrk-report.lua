-- wrk script: the request from the environment, and after wrk's own report one JSON line with the
-- figures the load-test scripts compare.
--
--   WRK_METHOD, WRK_BODY   the method and body (headers come with -H)
--   WRK_ITEMS=file         each request takes the next line of the file in turn, in place of
--                          `{item}` in WRK_PATH (and WRK_BODY): reads spread over many resources
--   WRK_POOL=file          a line per connection and one more, each taken by a request and put
--                          back by its response, so no two requests ever hold the same line (wrk
--                          builds one request before the run to check the script, and never sends
--                          it: that takes the extra line):
--     WRK_MODE=refresh       a line is a refresh token, put back as the rotated one the response
--                            carries (a token sent twice would be a reuse and end its session)
--     WRK_MODE=transitions   a line is a dossier code, moved between the two statuses of
--                            WRK_FLIP ("processing awaiting_fee") and put back with the status
--                            the response reports
-- With a pool the JSON line also counts the responses other than 2xx ("non_2xx"; wrk's
-- own count starts at 400) and the requests sent with the pool empty ("starved"), both of which
-- a clean run keeps at zero.
wrk.method = os.getenv("WRK_METHOD") or "GET"
wrk.body = os.getenv("WRK_BODY")

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then
      out[#out + 1] = line
    end
  end
  assert(#out > 0, path .. " is empty")
  return out
end

local items_file, pool_file = os.getenv("WRK_ITEMS"), os.getenv("WRK_POOL")
local path, body, mode = os.getenv("WRK_PATH"), wrk.body, os.getenv("WRK_MODE")
non_2xx, starved = 0, 0

local function fill(template, item)
  return template and (template:gsub("{item}", function() return item end))
end

if items_file then
  local items, next_item = lines(items_file), 0
  request = function()
    next_item = next_item % #items + 1
    local item = items[next_item]
    return wrk.format(nil, fill(path, item), nil, fill(body, item))
  end
elseif pool_file then
  local pool = lines(pool_file)
  local flip_a, flip_b = (os.getenv("WRK_FLIP") or ""):match("(%S+)%s+(%S+)")
  local target = {} -- transitions: the status each pooled dossier goes to next
  request = function()
    local item = table.remove(pool)
    if not item then
      -- Every line is in flight or was lost to a failed response: send one that is refused, so
      -- the run counts it rather than stalls.
      starved = starved + 1
      item = "none"
    end
    if mode == "transitions" then
      local to = target[item] or flip_b
      return wrk.format(nil, fill(path, item), nil, '{"to":"' .. to .. '"}')
    end
    return wrk.format(nil, path, nil, fill(body, item))
  end
  response = function(status, headers, response_body)
    if status < 200 or status > 299 then
      non_2xx = non_2xx + 1
      return
    end
    if mode == "refresh" then
      local rotated = response_body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if rotated then
        pool[#pool + 1] = rotated
      end
    elseif mode == "transitions" then
      local code = response_body:match('"code"%s*:%s*"([0-9.]+H[0-9]+%-[0-9]+%-[0-9]+)"')
      local now = response_body:match('"status"%s*:%s*"([a-z_]+)"')
      if code and now then
        target[code] = (now == flip_a) and flip_b or flip_a
        pool[#pool + 1] = code
      end
    end
  end
end

-- The threads' counters, read back by done() (which runs in wrk's main Lua state).
local threads = {}
setup = function(thread)
  threads[#threads + 1] = thread
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local counted, bad, short = response ~= nil, 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non_2xx") or 0)
    short = short + (thread:get("starved") or 0)
  end
  io.write(string.format(
    '{"requests": %d, "requests_per_second": %.1f, "errors": %d, "non_2xx_3xx": %d, '
      .. '"latency_ms": {"p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}%s}\n',
    summary.requests, summary.requests / seconds,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    counted and string.format(', "non_2xx": %d, "starved": %d', bad, short) or ""))
end
