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

-- The manifest of a tag: its digest and, for an index, the digests it lists; nil when unreadable.
local function read(ref)
  local ok, m = pcall(manifest.getList, ref)
  if not ok then return nil end
  local okD, desc = pcall(manifest.descriptor, m)
  if not okD then return nil end
  local children = {}
  if INDEX[desc.mediaType] then
    for _, d in ipairs(m.manifests or {}) do table.insert(children, d.digest) end
  end
  return desc.digest, children, m, INDEX[desc.mediaType]
end

-- The image's creation time of a tag read above; nil and why when unknown.
local function ageOf(ref, m, isIndex)
  -- For an index, the image a pull on this machine would choose.
  local target = m
  if isIndex then target = ref end
  local okC, cfg = pcall(image.config, target)
  if not okC then return nil, "no image config" end
  local created = cfg.created
  if created == nil then return nil, "no created time" end
  local t = epochOf(created)
  if t == nil then return nil, "unreadable created " .. tostring(created) end
  if t < EARLIEST then return nil, "placeholder created " .. created end
  if t > now + DAY then return nil, "future created " .. created end
  return t, created
end

-- The digest a fallback tag names: the referrers tag schema's "<alg>-<hex>" (OCI
-- distribution-spec, its encoded part cut to 64 characters) and cosign's "<alg>-<hex>.<kind>"
-- (.sig, .att, .sbom). Returned as a key (see keyOf); nil for any other tag.
local function namedBy(t)
  local alg, hex, kind = string.match(t, "^(sha%d+)%-([0-9a-f]+)(.*)$")
  if alg == nil or (#hex ~= 64 and #hex ~= 128) then return nil end
  if kind ~= "" and string.match(kind, "^%.%w+$") == nil then return nil end
  return alg .. ":" .. string.sub(hex, 1, 64)
end

-- A digest as fallback tags name it: the algorithm and the first 64 characters of the hex.
local function keyOf(digest)
  local colon = string.find(digest, ":", 1, true)
  if colon == nil then return digest end
  return string.sub(digest, 1, colon + 64)
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
  local entries, timed, attached = {}, {}, {}
  -- A tag whose manifest cannot be read may be the image a fallback tag names.
  local unreadable = false
  for _, t in ipairs(tags) do
    local e = { tag = t, ref = base .. ":" .. t, keep = {} }
    for _, p in ipairs(protect) do
      if string.find(t, p) then table.insert(e.keep, "protected") break end
    end
    local m, isIndex
    e.digest, e.children, m, isIndex = read(e.ref)
    e.names = namedBy(t)
    -- A tag that names its own manifest is an image under an odd name, not an attachment.
    if e.names ~= nil and e.digest ~= nil and keyOf(e.digest) == e.names then e.names = nil end
    if e.digest == nil then
      unreadable = true
      table.insert(e.keep, "manifest unreadable")
    elseif e.names ~= nil then
      table.insert(attached, e)
    else
      e.time, e.note = ageOf(e.ref, m, isIndex)
      if e.time ~= nil then
        table.insert(timed, e)
      elseif needTime then
        table.insert(e.keep, e.note .. ", age unknown")
      end
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
  -- What the kept tags hold: their manifests and an index's entries. A fallback tag stays exactly
  -- when the digest it names is held, and then holds what it points to in turn (an artefact of
  -- an artefact), until nothing changes.
  local held = {}
  local function hold(e)
    e.holds = true
    held[keyOf(e.digest)] = true
    for _, d in ipairs(e.children) do held[keyOf(d)] = true end
  end
  for _, e in ipairs(entries) do
    if #e.keep > 0 and e.digest ~= nil then hold(e) end
  end
  local grew = true
  while grew do
    grew = false
    for _, e in ipairs(attached) do
      if not e.holds and held[e.names] then
        table.insert(e.keep, "attached to " .. e.names .. ", which stays")
        hold(e)
        grew = true
      end
    end
  end
  for _, e in ipairs(attached) do
    if #e.keep == 0 and unreadable then table.insert(e.keep, "attached to " .. e.names .. "; a tag of this repository is unreadable") end
  end
  local doomed = {}
  for _, e in ipairs(entries) do
    totals.tags = totals.tags + 1
    if #e.keep > 0 then
      totals.kept = totals.kept + 1
      say("keep " .. e.ref .. " (" .. table.concat(e.keep, "; ") .. ")")
    else
      local why = "not protected"
      if e.names ~= nil then
        why = "attached to " .. e.names .. ", which no kept tag holds"
      elseif e.time ~= nil then
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
