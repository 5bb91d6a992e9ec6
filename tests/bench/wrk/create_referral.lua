-- (c) Create a referral: POST /referrals about a registered person, by their co-ordinator.
local common = dofile(os.getenv("CARECOORD_BENCH_WRK") .. "/common.lua")

common.each_request(function(person)
  local body = '{"service_user_id": "' .. person.id .. '", "source_type": "gp",' ..
    ' "referrer_name": "Dr Bench", "referrer_contact": "0113 496 0000",' ..
    ' "reason": "Low mood and not sleeping for six weeks; stopped going to work.",' ..
    ' "presenting_needs": "Support with housing.", "urgency": "routine"}'
  return wrk.format("POST", "/referrals",
                    {["Authorization"] = person.token, ["Content-Type"] = "application/json"}, body)
end)
