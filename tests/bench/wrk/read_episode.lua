-- (b) Read an episode summary: GET /episodes/{id} by the person's co-ordinator.
local common = dofile(os.getenv("CARECOORD_BENCH_WRK") .. "/common.lua")

common.each_request(function(person)
  return common.get("/episodes/" .. person.episode, person)
end)
