-- GET the URL as given.
dofile(debug.getinfo(1, "S").source:match("@(.*/)") .. "common.lua")
