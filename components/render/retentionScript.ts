/** The Lua that regbot runs for tag retention (see retention.ts for the rules and the header it gets). */
/**
 * The script after its rendered header. Plans each repository completely before deleting in it,
 * and before deleting a tag checks it still names the manifest it planned on (a push may have
 * moved it since). Failures are counted and end the run with an error after the last repository.
 */
export const RETENTION_LUA = String.raw`local DAY = 86400
-- Before 2000: placeholders of reproducible builds (the 1970 epoch, Go's year 1), not real ages.
local EARLIEST = 946684800
local PAGE = 1000
local INDEX = {
  ["application/vnd.oci.image.index.v1+json"] = true,
  ["application/vnd.docker.distribution.manifest.list.v2+json"] = true,
}
local now = os.time()
local needTime = keepNewest ~= nil or keepYoungerThanDays ~= nil
local function say(msg) log("retention: " .. msg) end

if not needTime and #protect == 0 then
  say("no rules set, every tag is kept")
  return
end
for _, p in ipairs(protect) do
  local ok, err = pcall(string.find, "", p)
  if not ok then error("retention: pattern " .. p .. " does not compile: " .. tostring(err), 0) end
end

-- Days from 1970-01-01 to a Gregorian date (H. Hinnant's days_from_civil): no time zone involved.
local function daysFromCivil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  return era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
end

-- regbot hands a time over as Go's time.String(): "2006-01-02 15:04:05.999 -0700 MST".
local function epochOf(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac, sign, oh, om =
    string.match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d):(%d%d)(%.?%d*) ([%+%-])(%d%d)(%d%d)")
  if y == nil then return nil end
  local t = daysFromCivil(tonumber(y), tonumber(mo), tonumber(d)) * DAY + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  if #frac > 1 then t = t + tonumber("0" .. frac) end
  local offset = tonumber(oh) * 3600 + tonumber(om) * 60
  if sign == "+" then return t - offset end
  return t + offset
end

-- The manifest digest and the image's creation time of a tag; nil and why when unknown.
local function inspect(ref)
  local ok, m = pcall(manifest.getList, ref)
  if not ok then return nil, nil, "manifest unreadable" end
  local okD, desc = pcall(manifest.descriptor, m)
  if not okD then return nil, nil, "manifest unreadable" end
  -- For an index, the image a pull on this machine would choose.
  local target = m
  if INDEX[desc.mediaType] then target = ref end
  local okC, cfg = pcall(image.config, target)
  if not okC then return desc.digest, nil, "no image config" end
  local created = cfg.created
  if created == nil then return desc.digest, nil, "no created time" end
  local t = epochOf(created)
  if t == nil then return desc.digest, nil, "unreadable created " .. tostring(created) end
  if t < EARLIEST then return desc.digest, nil, "placeholder created " .. created end
  if t > now + DAY then return desc.digest, nil, "future created " .. created end
  return desc.digest, t, created
end

local totals = { repos = 0, tags = 0, kept = 0, deleted = 0, changed = 0, failed = 0 }

local function retain(repo)
  local base = host .. "/" .. repo
  local okL, tags = pcall(tag.ls, base)
  if not okL then
    totals.failed = totals.failed + 1
    say("cannot list the tags of " .. base .. ": " .. tostring(tags))
    return
  end
  totals.repos = totals.repos + 1
  local entries, timed = {}, {}
  for _, t in ipairs(tags) do
    local e = { tag = t, ref = base .. ":" .. t, keep = {} }
    for _, p in ipairs(protect) do
      if string.find(t, p) then table.insert(e.keep, "protected") break end
    end
    e.digest, e.time, e.note = inspect(e.ref)
    if e.digest == nil then
      table.insert(e.keep, e.note)
    elseif e.time == nil then
      if needTime then table.insert(e.keep, e.note .. ", age unknown") end
    else
      table.insert(timed, e)
    end
    table.insert(entries, e)
  end
  -- Rank 1 + the number of strictly newer tags: tags of one image share a place.
  table.sort(timed, function(a, b)
    if a.time ~= b.time then return a.time > b.time end
    return a.tag < b.tag
  end)
  for i, e in ipairs(timed) do
    if i > 1 and e.time == timed[i - 1].time then e.rank = timed[i - 1].rank else e.rank = i end
    if keepNewest ~= nil and e.rank <= keepNewest then table.insert(e.keep, "newest #" .. e.rank) end
    if keepYoungerThanDays ~= nil and now - e.time < keepYoungerThanDays * DAY then
      table.insert(e.keep, "younger than " .. keepYoungerThanDays .. " days")
    end
  end
  local doomed = {}
  for _, e in ipairs(entries) do
    totals.tags = totals.tags + 1
    if #e.keep > 0 then
      totals.kept = totals.kept + 1
      say("keep " .. e.ref .. " (" .. table.concat(e.keep, "; ") .. ")")
    else
      local why = "not protected"
      if e.time ~= nil then
        why = string.format("created %s, %.1f days ago, newest #%d", e.note, (now - e.time) / DAY, e.rank)
      end
      if dryRun then say("would delete " .. e.ref .. " (" .. why .. ")") else say("delete " .. e.ref .. " (" .. why .. ")") end
      table.insert(doomed, e)
    end
  end
  if dryRun then
    totals.deleted = totals.deleted + #doomed
    return
  end
  for _, e in ipairs(doomed) do
    local ok, result = pcall(function()
      local current = manifest.descriptor(manifest.head(e.ref)).digest
      if current ~= e.digest then return "changed" end
      tag.delete(e.ref)
      return "deleted"
    end)
    if not ok then
      totals.failed = totals.failed + 1
      say("could not delete " .. e.ref .. ": " .. tostring(result))
    elseif result == "changed" then
      totals.changed = totals.changed + 1
      say("left " .. e.ref .. ": it names another manifest than when planned")
    else
      totals.deleted = totals.deleted + 1
    end
  end
end

-- Every repository first (the registry pages _catalog; regbot does not follow its links).
local repos, last = {}, nil
while true do
  local opts = { limit = PAGE }
  if last ~= nil then opts.last = last end
  local page = repo.ls(host, opts)
  if #page == 0 or page[#page] == last then break end
  for _, r in ipairs(page) do table.insert(repos, r) end
  last = page[#page]
end
for _, r in ipairs(repos) do retain(r) end

local verb = "deleted"
if dryRun then verb = "would delete" end
say(string.format("summary: %d repositories, %d tags, %d kept, %s %d, %d left as changed, %d failures",
  totals.repos, totals.tags, totals.kept, verb, totals.deleted, totals.changed, totals.failed))
if totals.failed > 0 then error("retention: " .. totals.failed .. " failures, see above", 0) end
`;
