-- Shared by the wrk scripts of the benchmark (tests/bench/bench.py runs them).
--
-- The driver writes two files into CARECOORD_BENCH_DATA:
--   tokens.tsv   clinician number <TAB> RS256 token (one per clinician: every request carries the
--                token of the clinician who holds the person's allocation)
--   people.tsv   person number <TAB> clinician number <TAB> service user id <TAB> episode id
--                <TAB> record version, one line per person with an open episode
-- Each wrk thread loads them once; each request picks a person at random.
local common = {}

local function split(line)
  local fields = {}
  for field in string.gmatch(line, "[^\t]+") do fields[#fields + 1] = field end
  return fields
end

function common.load(keep)
  local dir = os.getenv("CARECOORD_BENCH_DATA")
  local tokens, people = {}, {}
  for line in io.lines(dir .. "/tokens.tsv") do
    local f = split(line)
    tokens[tonumber(f[1])] = "Bearer " .. f[2]
  end
  for line in io.lines(dir .. "/people.tsv") do
    local f = split(line)
    local person = {n = tonumber(f[1]), token = tokens[tonumber(f[2])], id = f[3], episode = f[4],
                    version = tonumber(f[5])}
    if not keep or keep(person) then people[#people + 1] = person end
  end
  return people
end

-- The benchmark's threads are numbered in setup() so that a script can split the people
-- between them (see update_person.lua).
local thread_count = 0
function setup(thread)
  thread:set("thread_number", thread_count)
  thread_count = thread_count + 1
end

function common.pick(people)
  return people[math.random(#people)]
end

function common.seed()
  math.randomseed(os.time() * 1000 + (thread_number or 0))
end

function common.get(path, person)
  return wrk.format("GET", path, {["Authorization"] = person.token})
end

-- A script whose every request is about a random person with an open episode: make(person)
-- returns the request.
function common.each_request(make)
  local people
  function init(args)
    common.seed()
    people = common.load()
  end
  function request()
    return make(common.pick(people))
  end
end

-- One line the driver parses: counts, errors and latency percentiles in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d,' ..
    ' "write": %d, "status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d,' ..
    ' "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end

return common
