-- (a) Read a service user's record: GET /service-users/{id} by the person's co-ordinator.
local common = dofile(os.getenv("CARECOORD_BENCH_WRK") .. "/common.lua")

common.each_request(function(person)
  return common.get("/service-users/" .. person.id, person)
end)
