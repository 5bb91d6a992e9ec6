-- (d) Update a record with If-Match: PATCH /service-users/{id} by the person's co-ordinator.
--
-- Each thread updates its own share of the people and remembers the version each response
-- names (ETag), so If-Match is always current and a 412 would be a real error. A person is
-- never updated by two of the thread's connections at once.
local common = dofile(os.getenv("CARECOORD_BENCH_WRK") .. "/common.lua")
local threads = tonumber(os.getenv("CARECOORD_BENCH_THREADS"))
local people
local versions, in_flight = {}, {}
local languages = {"English", "Polish", "Urdu", "Welsh"}
local counter = 0

function init(args)
  common.seed()
  people = common.load(function(person) return person.n % threads == thread_number end)
end

function request()
  local person = common.pick(people)
  while in_flight[person.id] do person = common.pick(people) end
  in_flight[person.id] = true
  counter = counter + 1
  local body = '{"preferred_language": "' .. languages[counter % 4 + 1] .. '"}'
  return wrk.format("PATCH", "/service-users/" .. person.id,
                    {["Authorization"] = person.token,
                     ["Content-Type"] = "application/merge-patch+json",
                     ["If-Match"] = '"' .. (versions[person.id] or person.version) .. '"'}, body)
end

-- The person is the record's id in a 200, the problem's instance otherwise; both carry the ETag.
function response(status, headers, body)
  local id = string.match(body, '"id"%s*:%s*"([%x%-]+)"') or
             string.match(body, '/service%-users/([%x%-]+)')
  if not id then return end
  in_flight[id] = nil
  local etag = headers["ETag"] or headers["etag"]
  if etag then versions[id] = tonumber(string.match(etag, "%d+")) end
end
