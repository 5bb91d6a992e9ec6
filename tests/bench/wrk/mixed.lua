-- Mixed traffic for the soak: of every 20 requests, 12 read a record, 4 an episode summary,
-- 3 update a record with If-Match and 1 creates a referral.
--
-- Every fourth person is only ever updated, the others only read, so a 200 naming one of the
-- former answers an update; each thread updates its own share of them and keeps their versions
-- as update_person.lua does.
local common = dofile(os.getenv("CARECOORD_BENCH_WRK") .. "/common.lua")
local threads = tonumber(os.getenv("CARECOORD_BENCH_THREADS"))
local readers, updated
local is_updated, versions, in_flight = {}, {}, {}
local counter = 0

function init(args)
  common.seed()
  readers = common.load(function(person) return person.n % 4 ~= 0 end)
  updated = common.load(function(person)
    return person.n % 4 == 0 and (person.n / 4) % threads == thread_number
  end)
  for _, person in ipairs(updated) do is_updated[person.id] = true end
end

function request()
  counter = counter + 1
  local slot = counter % 20
  local person = common.pick(readers)
  if slot < 12 then return common.get("/service-users/" .. person.id, person) end
  if slot < 16 then return common.get("/episodes/" .. person.episode, person) end
  if slot < 19 then
    person = common.pick(updated)
    while in_flight[person.id] do person = common.pick(updated) end
    in_flight[person.id] = true
    return wrk.format("PATCH", "/service-users/" .. person.id,
                      {["Authorization"] = person.token,
                       ["Content-Type"] = "application/merge-patch+json",
                       ["If-Match"] = '"' .. (versions[person.id] or person.version) .. '"'},
                      '{"preferred_language": "' .. (slot == 16 and "Urdu" or "English") .. '"}')
  end
  return wrk.format("POST", "/referrals",
                    {["Authorization"] = person.token, ["Content-Type"] = "application/json"},
                    '{"service_user_id": "' .. person.id .. '", "source_type": "gp",' ..
                    ' "reason": "Relapse signs reported by family.", "urgency": "urgent"}')
end

function response(status, headers, body)
  local id = string.match(body, '^{"id"%s*:%s*"([%x%-]+)"') or
             string.match(body, '/service%-users/([%x%-]+)')
  if not id or not is_updated[id] then return end
  in_flight[id] = nil
  local etag = headers["ETag"] or headers["etag"]
  if etag then versions[id] = tonumber(string.match(etag, "%d+")) end
end
