-- (b) Read an episode summary: GET /episodes/{id} by the person's co-ordinator.
local common = dofile(os.getenv("CARECOORD_BENCH_WRK") .. "/common.lua")
local people

function init(args)
  common.seed()
  people = common.load()
end

function request()
  local person = common.pick(people)
  return common.get("/episodes/" .. person.episode, person)
end
