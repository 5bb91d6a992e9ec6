-- Lists and reports, one kind per run (CARECOORD_BENCH_LIST): a manager's intake worklist, a
-- co-ordinator's caseload and name search, a person's access log and the audit trail's refusals.
local common = dofile(os.getenv("CARECOORD_BENCH_WRK") .. "/common.lua")
local kind = os.getenv("CARECOORD_BENCH_LIST")
local people, managers = nil, {}
local names = {"shah", "begum", "nowak", "chen", "smith", "hughes"}

local paths = {
  worklist = function(person) return "/referrals", person.manager end,
  worklist_received = function(person) return "/referrals?status=received", person.manager end,
  caseload = function(person) return "/service-users", person.token end,
  search = function(person)
    return "/service-users?name=" .. names[math.random(#names)], person.token
  end,
  access_log = function(person)
    return "/service-users/" .. person.id .. "/access-log", person.manager
  end,
  audit_denials = function(person) return "/audit-events?action=deny", person.manager end,
}

function init(args)
  common.seed()
  for line in io.lines(os.getenv("CARECOORD_BENCH_DATA") .. "/managers.tsv") do
    local team, token = string.match(line, "^(%d+)\t(.+)$")
    managers[tonumber(team)] = "Bearer " .. token
  end
  people = common.load()
  for _, person in ipairs(people) do
    person.manager = managers[math.floor(((person.n - 1) % 2400) / 40) + 1]
  end
end

function request()
  local path, token = paths[kind](common.pick(people))
  return wrk.format("GET", path, {["Authorization"] = token})
end
