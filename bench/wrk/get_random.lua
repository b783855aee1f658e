-- GET <url><random id>, the ids read from the file named by BENCH_IDS.
dofile(debug.getinfo(1, "S").source:match("@(.*/)") .. "common.lua")
local ids = {}

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    ids[#ids + 1] = line
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  return wrk.format(nil, wrk.path .. ids[math.random(#ids)])
end
