--[[
  promote.lua: move one PRP one state forward (a promotion) or back (a demotion), atomically,
  on evidence. Contract v2: KEYS[6] (the PRP's history) and ARGV[9] (KIND) are new. Contract v3:
  the hash's validated_commit, and complete only on it (below).

  Contract: CONTRACT.md section 3. The TypeScript fallback's decision (src/core/decide.ts)
  mirrors this file section for section and message for message; test/vectors keep them
  equal. The blocks between BEGIN/END GENERATED come from src/core/contract.ts.

  KEYS (all in one namespace NS, so one Redis Cluster slot through the {NS} hash tag)
    KEYS[1]  {NS}:prp:ID                 hash   status, version, updated_at, updated_by, evidence_key;
                                                and validated_commit (v3): integration -> validate
                                                writes its evidence's merge_commit there
    KEYS[2]  {NS}:queue:FROM             list   the id is removed from here (LREM from the right)
    KEYS[3]  {NS}:queue:TO               list   the id is LPUSHed here
    KEYS[4]  {NS}:evidence:ID:TOKEN      string the evidence JSON, exactly as given, with a TTL
    KEYS[5]  {NS}:events                 stream one entry per move, capped near 100,000
    KEYS[6]  {NS}:history:ID             stream the PRP's own moves, capped near 1,000

  ARGV
    ARGV[1]  ID                 1-128 of A-Z a-z 0-9 . _ -, first a letter or digit
    ARGV[2]  FROM               the state the PRP is in
    ARGV[3]  TO                 promote: the state after FROM; demote: any state before FROM
    ARGV[4]  EVIDENCE_JSON      a JSON object, at most 65,536 bytes
    ARGV[5]  TTL_SECONDS        evidence TTL, 1 to 31,536,000
    ARGV[6]  ACTOR              who promotes, at most 256 bytes, may be empty
    ARGV[7]  EXPECTED_VERSION   empty for any, else a non-negative integer (a missing version is 0)
    ARGV[8]  DRY_RUN            0, or 1 to run every check and write nothing
    ARGV[9]  KIND               promote, or demote (from development, integration or validate;
                                complete is final)

  Reply: a JSON string
    {"result":"promoted"|"demoted"|"already"|"dry_run","prp":ID,"from":FROM,"to":TO,
     "version":N,"evidence_key":KEY,"removed":0|1,"at":MS,"kind":KIND}
    promoted  the writes happened; version is the new one, at is the server time in ms
    demoted   the same, for a demotion
    already   status was TO already: nothing written; version, evidence_key and at
              (updated_at) are the hash's own
    dry_run   nothing written; version, evidence_key and removed are what a promotion
              would have produced

  Errors: an error reply whose first word is the code (Redis counts it in INFO errorstats)
    PRP_BAD_ARGUMENT        wrong number or shape of keys or arguments
    PRP_INVALID_TRANSITION  FROM -> TO is not one step forward (promote), or not back from
                            development, integration or validate (demote)
    PRP_EVIDENCE_INVALID    too large, not UTF-8, not a JSON object, or a field breaks its rule;
                            or (v3) validate -> complete whose merge_commit is not the hash's
                            validated_commit (both named), or whose hash has none (validate again)
    PRP_NOT_FOUND           no hash for the id
    PRP_STATE_MISMATCH      status is neither FROM nor TO
    PRP_VERSION_CONFLICT    EXPECTED_VERSION given and different
    PRP_WRONG_TYPE          a key holds another type, or the hash's version is not an integer
    PRP_EVENTS_EXHAUSTED    the events or the history stream has used its last possible id
                            (XADD would fail)
    PRP_EVIDENCE_EXISTS     KEYS[4] exists already: a move never overwrites evidence (an
                            earlier move's, or anyone's); give each move a token of its own
  and, not a refusal of the PRP but of the caller:
    NOPERM                  the Redis user may not run a command on a key the promotion needs
                            (checked for every write before the first one, where the server
                            has redis.acl_check_cmd: Redis 7 and later, Valkey)
  Other errors of Redis (OOM, a read the user may not run) come back as Redis gave them.

  Order: arguments, keys, key types, transition, evidence, existence, state, version,
  validated commit (v3), evidence key free, permission for each write, then the history's last id; every check before the first write,
  so a refused or failed promotion or demotion changes nothing (both kinds: one order). The writes' order is chosen so that only the first can fail:
    XADD first: the only write that can fail for a reason in the data (a stream whose last
      id is the largest possible, which any writer of the stream can cause). It runs under
      pcall and its failure is a refusal. It is also refused when Redis is out of memory,
      as SET is: a script is only stopped for OOM before its first write.
    XADD to the history then: the same could stop it, so its last id is read (XINFO STREAM)
      before the first write, and an exhausted history is refused there.
    SET, HSET, LREM, LPUSH then: their keys' types were checked, their arguments are valid,
      the user's permission for each was checked, and after a first write Redis no longer
      stops a script for memory (nor lets SCRIPT KILL stop it): nothing can stop the rest.
]]

-- BEGIN GENERATED bounds (npm run generate writes this block from src/core/contract.ts)
-- Evidence JSON nesting: arrays and objects at most this deep (cjson.decode_max_depth).
local EVIDENCE_MAX_DEPTH = 1000
-- END GENERATED bounds (edit src/core/contract.ts, then npm run generate)

-- BEGIN GENERATED hash-fields (npm run generate writes this block from src/core/contract.ts)
-- The hash field integration -> validate records its merge_commit in (v3).
local VALIDATED_COMMIT_FIELD = 'validated_commit'
-- END GENERATED hash-fields (edit src/core/contract.ts, then npm run generate)

local function fail(code, message)
  return redis.error_reply(code .. ' ' .. message)
end

-- Redis's own code for a permission error, so callers see one (NOPERM), not a refusal.
local function denied(command, key)
  return redis.error_reply('NOPERM this user has no permissions to run the \''
    .. string.lower(command) .. '\' command' .. (key and (' on key ' .. key) or '')
    .. '; nothing was written (docs/acl-rules.txt lists the rules a promotion needs)')
end

-- A read Redis refused: a permission error naming the command and key where the server can
-- tell (Redis 7.0 words a denial inside a script without naming either), else Redis's words.
local function readFailed(err, name, key, command)
  if redis.acl_check_cmd and not redis.acl_check_cmd(unpack(command)) then
    return denied(name, key)
  end
  return redis.error_reply(err)
end

if #KEYS ~= 6 or #ARGV ~= 9 then
  return fail('PRP_BAD_ARGUMENT', 'expected 6 keys and 9 arguments, got ' .. #KEYS .. ' keys and '
    .. #ARGV .. ' arguments (KEYS: prp, queue:FROM, queue:TO, evidence:ID:TOKEN, events, '
    .. 'history:ID; ARGV: ID FROM TO EVIDENCE_JSON TTL_SECONDS ACTOR EXPECTED_VERSION DRY_RUN '
    .. 'KIND)')
end

local id, from, to, evidence = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, actor, expected, dryRun, kind = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]

-- Arguments -------------------------------------------------------------------------------
if #id > 128 or not string.find(id, '^[A-Za-z0-9][A-Za-z0-9._-]*$') then
  return fail('PRP_BAD_ARGUMENT', 'PRP id must be 1-128 of A-Z a-z 0-9 . _ - starting with a '
    .. 'letter or digit')
end
if #ttl > 8 or not string.find(ttl, '^[1-9][0-9]*$') or tonumber(ttl) > 31536000 then
  return fail('PRP_BAD_ARGUMENT', 'TTL_SECONDS must be an integer from 1 to 31536000')
end
if #actor > 256 then
  return fail('PRP_BAD_ARGUMENT', 'ACTOR must be at most 256 bytes')
end
if expected ~= '' and (#expected > 15 or not string.find(expected, '^[0-9]+$')) then
  return fail('PRP_BAD_ARGUMENT', 'EXPECTED_VERSION must be empty or a non-negative integer '
    .. '(at most 15 digits)')
end
if dryRun ~= '0' and dryRun ~= '1' then
  return fail('PRP_BAD_ARGUMENT', 'DRY_RUN must be 0 or 1')
end
if kind ~= 'promote' and kind ~= 'demote' then
  return fail('PRP_BAD_ARGUMENT', 'KIND must be promote or demote')
end
-- The words of a move of this kind, for messages and the reply.
local moveVerb = kind == 'promote' and 'promote' or 'demote'
local moveNoun = kind == 'promote' and 'promotion' or 'demotion'

-- Keys: exactly the ones the arguments name ------------------------------------------------
local ns = string.match(KEYS[1], '^{([A-Za-z0-9_.-]+)}:prp:')
if not ns or #ns > 64 then
  return fail('PRP_BAD_ARGUMENT', 'KEYS[1] must be {NS}:prp:ID with NS 1-64 of A-Z a-z 0-9 _ . -')
end
local prefix = '{' .. ns .. '}:'
if KEYS[1] ~= prefix .. 'prp:' .. id then
  return fail('PRP_BAD_ARGUMENT', 'KEYS[1] must be ' .. prefix .. 'prp:' .. id)
end
if KEYS[2] ~= prefix .. 'queue:' .. from then
  return fail('PRP_BAD_ARGUMENT', 'KEYS[2] must be ' .. prefix .. 'queue:' .. from)
end
if KEYS[3] ~= prefix .. 'queue:' .. to then
  return fail('PRP_BAD_ARGUMENT', 'KEYS[3] must be ' .. prefix .. 'queue:' .. to)
end
local evidencePrefix = prefix .. 'evidence:' .. id .. ':'
local token = string.sub(KEYS[4], #evidencePrefix + 1)
if string.sub(KEYS[4], 1, #evidencePrefix) ~= evidencePrefix or #token > 128
    or not string.find(token, '^[A-Za-z0-9._-]+$') then
  return fail('PRP_BAD_ARGUMENT', 'KEYS[4] must be ' .. evidencePrefix
    .. 'TOKEN with TOKEN 1-128 of A-Z a-z 0-9 . _ -')
end
if KEYS[5] ~= prefix .. 'events' then
  return fail('PRP_BAD_ARGUMENT', 'KEYS[5] must be ' .. prefix .. 'events')
end
if KEYS[6] ~= prefix .. 'history:' .. id then
  return fail('PRP_BAD_ARGUMENT', 'KEYS[6] must be ' .. prefix .. 'history:' .. id)
end

-- Key types ----------------------------------------------------------------------------------
-- The hash is read here, once: HMGET answers WRONGTYPE for a key of another type, so it
-- doubles as the hash's type check (one call fewer than TYPE then HMGET).
local expectedTypes = { 'hash', 'list', 'list', 'string', 'stream', 'stream' }
local current = redis.pcall('HMGET', KEYS[1], 'status', 'version', 'evidence_key', 'updated_at',
  VALIDATED_COMMIT_FIELD)
if current.err and not string.find(current.err, '^WRONGTYPE') then
  -- Only WRONGTYPE means another type. Anything else (a denied HMGET) is no fact about the
  -- PRP: return it as it is, named plainly where the server can say it was a permission.
  return readFailed(current.err, 'hmget', KEYS[1], { 'HMGET', KEYS[1], 'status' })
end
local evidenceType, eventsType, historyType
for i = 1, 6 do
  local t = 'hash'
  if i > 1 or current.err then
    t = redis.pcall('TYPE', KEYS[i])
    if t.err then return readFailed(t.err, 'type', KEYS[i], { 'TYPE', KEYS[i] }) end
    t = t.ok
  end
  if t ~= 'none' and t ~= expectedTypes[i] then
    return fail('PRP_WRONG_TYPE', 'key ' .. KEYS[i] .. ' holds a ' .. t .. ', expected a '
      .. expectedTypes[i])
  end
  if i == 4 then evidenceType = t elseif i == 5 then eventsType = t elseif i == 6 then
    historyType = t
  end
end

-- Transition ---------------------------------------------------------------------------------
-- The rules of the one transition asked for; built once per call. Order is the order fields
-- are checked and reported in. Generated from src/core/contract.ts, as is the field loop below.
-- BEGIN GENERATED transitions (npm run generate writes this block from src/core/contract.ts)
local rules
if kind == 'promote' then
  if from == 'pending' and to == 'development' then
    rules = { { 'requirements_analysis', 'present' }, { 'acceptance_criteria', 'present' } }
  elseif from == 'development' and to == 'integration' then
    rules = { { 'implementation_complete', 'true' }, { 'local_validation', 'present' },
              { 'branch_name', 'ref' } }
  elseif from == 'integration' and to == 'validate' then
    rules = { { 'smoke_ci_passed', 'true' }, { 'merge_commit', 'sha' } }
  elseif from == 'validate' and to == 'complete' then
    rules = { { 'quality_gates_passed', 'true' }, { 'validator_approval', 'text' },
              { 'merge_commit', 'sha' } }
  else
    return fail('PRP_INVALID_TRANSITION', 'cannot promote ' .. from .. ' -> ' .. to
      .. '; a promotion moves one step forward along pending -> development -> integration -> '
      .. 'validate -> complete')
  end
elseif (from == 'development' and to == 'pending')
    or (from == 'integration' and (to == 'pending' or to == 'development'))
    or (from == 'validate' and (to == 'pending' or to == 'development' or to == 'integration')) then
  rules = { { 'reason', 'text' } }
else
  local known = { pending = true, development = true, integration = true, validate = true,
                  complete = true }
  local why = known[to] and ({
    pending = '; a demotion moves to an earlier state, and pending is the first',
    development = '; a demotion moves to an earlier state: from development to pending',
    integration = '; a demotion moves to an earlier state: from integration to pending or '
      .. 'development',
    validate = '; a demotion moves to an earlier state: from validate to pending, development or '
      .. 'integration',
  })[from]
  why = why or '; a demotion moves back from development, integration or validate to an earlier '
    .. 'state; complete is final'
  return fail('PRP_INVALID_TRANSITION', 'cannot demote ' .. from .. ' -> ' .. to .. why)
end
-- END GENERATED transitions (edit src/core/contract.ts, then npm run generate)

-- Evidence -----------------------------------------------------------------------------------
if #evidence > 65536 then
  return fail('PRP_EVIDENCE_INVALID', 'evidence is ' .. #evidence
    .. ' bytes; at most 65536 are allowed')
end
-- JSON text is UTF-8 (RFC 8259 8.1) and cjson passes any byte through, so bytes that are not
-- UTF-8 would be stored for readers to choke on. One find looks for the first byte that is not
-- printable ASCII: a control character (which JSON allows only escaped; judged below, after
-- the encoding) or a byte above 0x7F, where a walk begins: left to right, one character per
-- step, each checked against the well-formed sequences of Unicode's table 3-7 (no overlong
-- form, no surrogate, nothing above U+10FFFF, none cut short). The find starts after the
-- leading run of printable ASCII (space to DEL), which one anchored match measures at a sixth
-- of a find's cost: compact ASCII evidence is all run, and costs that match alone. The byte
-- after a character is read with it: when it is not ASCII either, the next step starts there
-- without a find (64 KiB of CJK text: about 2 ms).
local special = '[%z\1-\8\11\12\14-\31\128-\255]'
local control = false
local _, plain = string.find(evidence, '^[ -\127]*')
local scan = plain < #evidence and string.find(evidence, special, plain + 1)
while scan do
  local a, b, c, d, e = string.byte(evidence, scan, scan + 4)
  if a < 128 then
    control = true
    special = '[\128-\255]'
    scan = string.find(evidence, special, scan + 1)
  else
    -- The second byte's range, the sequence's length, and the byte after the sequence.
    local low, high, length, after = 128, 191, 4, e
    if a >= 194 and a <= 223 then
      length, after = 2, c
    elseif a >= 224 and a <= 239 then
      length, after = 3, d
      if a == 224 then low = 160 elseif a == 237 then high = 159 end
    elseif a == 240 then
      low = 144
    elseif a == 244 then
      high = 143
    elseif a < 241 or a > 243 then
      b = nil -- 80-C1 and F5-FF never lead
    end
    if not b or b < low or b > high or (length > 2 and not (c and c >= 128 and c <= 191))
        or (length > 3 and not (d and d >= 128 and d <= 191)) then
      return fail('PRP_EVIDENCE_INVALID', 'evidence is not valid UTF-8')
    end
    scan = scan + length
    if not after then
      scan = nil
    elseif after < 128 then
      scan = string.find(evidence, special, scan)
    end
  end
end
-- cjson alone is laxer than JSON: it takes NaN, Infinity, hex numbers, raw control
-- characters, raw tabs and line breaks inside strings, and numbers strtod reads but JSON
-- does not (1., -.5, 1.e5). Evidence is stored for other programs to parse, so hold it to
-- JSON. cjson's settings are the server's, shared by every script, and any caller allowed EVAL
-- can change them (cjson.decode_max_depth(1) would refuse nested evidence, 5000 would take
-- what the bound refuses): each one the decode relies on, the number switch and the nesting
-- bound (BOUNDS.evidenceMaxDepth), is set here on every call, and what was there is put back
-- before anything else can run. (The one encode, of a string in the `already` reply, depends
-- on no setting.) (DEL, 127, is no control character to JSON: allowed in strings, refused by
-- cjson elsewhere.)
local decoded, ok
local strictNumbers, maxDepth = cjson.decode_invalid_numbers, cjson.decode_max_depth
if not control then
  local savedNumbers, savedDepth
  if strictNumbers then
    savedNumbers = strictNumbers()
    strictNumbers(false)
  end
  if maxDepth then
    savedDepth = maxDepth()
    maxDepth(EVIDENCE_MAX_DEPTH)
  end
  ok, decoded = pcall(cjson.decode, evidence)
  if maxDepth then maxDepth(savedDepth) end
  if strictNumbers then strictNumbers(savedNumbers) end
end
-- The rest is looked for only in text that could hold it: with escapes dropped, every string
-- free of raw tabs and line breaks is cut out, so a quote left over means a string held one;
-- and what is left outside strings may have a dot only between digits.
-- Text that could hold it: a tab or line break (only where the printable run stopped short),
-- or a dot a number could hold wrongly. cjson took the text, so outside strings a dot is in a
-- number: after a digit or a minus sign, unless the number is hex (refused by the strict
-- switch on Redis 7, but an older cjson takes -0x1a.8). 1. 1.e5 -.5 are the forms JSON
-- refuses; a dot after a letter, as in a URL, or between digits needs no cutting.
local suspect = ok and plain < #evidence and string.find(evidence, '[\t\n\r]', plain + 1)
if ok and not suspect then
  local dot = string.find(evidence, '.', 1, true)
  suspect = dot and (string.find(evidence, '0x', 1, true) or string.find(evidence, '0X', 1, true))
  while dot and not suspect do
    local before, after = string.byte(evidence, dot - 1), string.byte(evidence, dot + 1)
    suspect = not strictNumbers or before == 45
      or (before >= 48 and before <= 57 and not (after and after >= 48 and after <= 57))
    dot = string.find(evidence, '.', dot + 1, true)
  end
end
if suspect then
  local text = evidence
  if string.find(text, '\\', 1, true) then text = string.gsub(text, '\\.', '') end
  local between = ' ' .. string.gsub(text, '"[^"\t\n\r]*"', '') .. ' '
  ok = not string.find(between, '"', 1, true) and not string.find(between, '%D%.')
    and not string.find(between, '%.%D')
end
if not ok then
  return fail('PRP_EVIDENCE_INVALID', 'evidence is not valid JSON')
end
if type(decoded) ~= 'table' or not string.find(evidence, '^[ \t\r\n]*{') then
  return fail('PRP_EVIDENCE_INVALID', 'evidence must be a JSON object')
end

-- BEGIN GENERATED rule-checks (npm run generate writes this block from src/core/contract.ts)
for i = 1, #rules do
  local field, rule = rules[i][1], rules[i][2]
  local v = decoded[field]
  local t = type(v)
  local good
  if rule == 'present' then
    good = (t == 'string' and string.find(v, '%S') ~= nil) or v == true or t == 'number'
      or (t == 'table' and next(v) ~= nil)
  elseif rule == 'true' then
    good = v == true
  elseif rule == 'text' then
    good = t == 'string' and string.find(v, '%S') ~= nil
  elseif rule == 'ref' then
    good = t == 'string' and #v >= 1 and #v <= 255 and not string.find(v, '[%z\1-\32\127]')
  else -- sha
    good = t == 'string' and (#v == 40 or #v == 64) and not string.find(v, '[^0-9a-f]')
  end
  if not good then
    local ruleMessages = {
      present = 'is required: a non-empty string, true, a number, or a non-empty array or object',
      ['true'] = 'must be JSON true (the boolean, not a string)',
      text = 'must be a non-empty string',
      ref = 'must be a ref: 1-255 bytes with no whitespace or control characters',
      sha = 'must be a commit sha: 40 or 64 lowercase hexadecimal characters',
    }
    return fail('PRP_EVIDENCE_INVALID', 'evidence field ' .. field .. ' ' .. ruleMessages[rule]
      .. ' (' .. from .. ' -> ' .. to .. ')')
  end
end
-- END GENERATED rule-checks (edit src/core/contract.ts, then npm run generate)

-- State and version --------------------------------------------------------------------------
local status, version = current[1], current[2]
-- No field of ours: no hash at all, or one made by someone else without them (rare: ask, with
-- TYPE, which the least-privilege user may already run).
local hashType = not (status or version or current[3] or current[4])
  and redis.pcall('TYPE', KEYS[1])
if hashType and hashType.err then
  return readFailed(hashType.err, 'type', KEYS[1], { 'TYPE', KEYS[1] })
end
if hashType and hashType.ok == 'none' then
  return fail('PRP_NOT_FOUND', 'no PRP ' .. id .. ': hash ' .. KEYS[1]
    .. ' does not exist; whoever creates PRPs must create it with status ' .. from)
end

local versionNumber = 0
if version then
  if not string.find(version, '^%-?[0-9]+$') or #version > 15 then
    return fail('PRP_WRONG_TYPE', 'field version of ' .. KEYS[1] .. ' is not an integer')
  end
  versionNumber = tonumber(version)
end

local function reply(result, replyVersion, key, removed, at)
  return '{"result":"' .. result .. '","prp":"' .. id .. '","from":"' .. from .. '","to":"' .. to
    .. '","version":' .. string.format('%d', replyVersion) .. ',"evidence_key":' .. key
    .. ',"removed":' .. removed .. ',"at":' .. at .. ',"kind":"' .. kind .. '"}'
end

-- The server's time in ms; or nil and the error reply when TIME was refused.
local function serverTimeMs()
  local time = redis.pcall('TIME')
  if time.err then return nil, readFailed(time.err, 'time', nil, { 'TIME' }) end
  return string.format('%s%03d', time[1], time[2] / 1000) -- %d truncates: the whole ms
end

if status == to then
  -- id, states and keys above are plain characters; a stored evidence_key may not be.
  local storedAt = current[4]
  -- Only a plain JSON integer may go into the reply (0123 would make it invalid JSON).
  if not storedAt or #storedAt > 15 or not string.find(storedAt, '^[1-9][0-9]*$') then
    local failed
    storedAt, failed = serverTimeMs()
    if failed then return failed end
  end
  return reply('already', versionNumber, cjson.encode(current[3] or ''), 0, storedAt)
end
if status ~= from then
  return fail('PRP_STATE_MISMATCH', 'PRP ' .. id .. ' is in state ' .. tostring(status or '(none)')
    .. ', not ' .. from .. '; cannot ' .. moveVerb .. ' ' .. from .. ' -> ' .. to)
end
if expected ~= '' and tonumber(expected) ~= versionNumber then
  return fail('PRP_VERSION_CONFLICT', 'PRP ' .. id .. ' is at version '
    .. string.format('%d', versionNumber) .. ', expected version ' .. expected
    .. '; it changed since it was read')
end

-- BEGIN GENERATED validated-commit (npm run generate writes this block from src/core/contract.ts)
-- Complete only on the validated commit (contract v3): validate -> complete needs the
-- merge_commit integration -> validate recorded (current[5]), a commit sha, and no other;
-- integration -> validate records its own (recordedCommit, written by the HSET below).
local recordedCommit = kind == 'promote' and from == 'integration' and to == 'validate'
  and decoded['merge_commit']
if kind == 'promote' and from == 'validate' and to == 'complete' then
  local recorded = current[5]
  if not (recorded and (#recorded == 40 or #recorded == 64)
      and not string.find(recorded, '[^0-9a-f]')) then
    return fail('PRP_EVIDENCE_INVALID', 'PRP ' .. id .. ' has no validated commit (hash field '
      .. 'validated_commit is missing or not a commit sha; a PRP that reached validate before '
      .. 'contract v3 has none): demote it validate -> integration, promote it integration -> '
      .. 'validate on its merge commit, then complete (validate -> complete)')
  end
  if decoded['merge_commit'] ~= recorded then
    return fail('PRP_EVIDENCE_INVALID', 'evidence field merge_commit is '
      .. decoded['merge_commit'] .. ', but PRP ' .. id .. ' was validated on ' .. recorded .. ' '
      .. '(hash field validated_commit); only the validated commit can complete: complete with '
      .. 'merge_commit ' .. recorded .. ', or demote to integration and validate '
      .. decoded['merge_commit'] .. ' first (validate -> complete)')
  end
end
-- END GENERATED validated-commit (edit src/core/contract.ts, then npm run generate)

-- A version is at most 15 digits (exact in a Lua number, and what the checks above accept):
-- the largest cannot be raised, or the next promotion would refuse what this one wrote.
if versionNumber >= 999999999999999 then
  return fail('PRP_WRONG_TYPE', 'field version of ' .. KEYS[1] .. ' is '
    .. string.format('%d', versionNumber) .. ', the largest a ' .. moveNoun
    .. ' can raise (15 digits)')
end

-- Evidence is never overwritten: a move whose evidence key exists (a token used before, by an
-- earlier move of this PRP or by anyone) is refused, in a dry run too. After `already`, so that
-- a re-run of a move that happened (its own key there) still answers already.
if evidenceType ~= 'none' then
  return fail('PRP_EVIDENCE_EXISTS', 'evidence key ' .. KEYS[4] .. ' exists already and a '
    .. moveNoun .. ' never overwrites evidence; nothing was written; ' .. moveVerb
    .. ' again with a token no earlier move of ' .. id .. ' used')
end

-- Writes -------------------------------------------------------------------------------------
local newVersion = string.format('%d', versionNumber + 1)
local at, timeFailed = serverTimeMs()
if timeFailed then return timeFailed end
local evidenceKey = '"' .. KEYS[4] .. '"'

-- Every write, in the order it is made (the header says why), with its exact arguments: each
-- a function of how it runs, asked about (redis.acl_check_cmd) or made (redis.call). Functions,
-- not tables of arguments: nothing to build and unpack twice per promotion.
local writes = {
  function(run)
    return run('XADD', KEYS[5], 'MAXLEN', '~', '100000', '*', 'kind', kind, 'prp', id, 'from',
      from, 'to', to, 'version', newVersion, 'evidence_key', KEYS[4], 'actor', actor, 'at', at)
  end,
  function(run)
    return run('XADD', KEYS[6], 'MAXLEN', '~', '1000', '*', 'kind', kind, 'from', from, 'to', to,
      'version', newVersion, 'evidence_key', KEYS[4], 'actor', actor, 'at', at)
  end,
  function(run) return run('SET', KEYS[4], evidence, 'EX', ttl) end,
  function(run)
    if recordedCommit then
      return run('HSET', KEYS[1], 'status', to, 'version', newVersion, 'updated_at', at,
        'updated_by', actor, 'evidence_key', KEYS[4], VALIDATED_COMMIT_FIELD, recordedCommit)
    end
    return run('HSET', KEYS[1], 'status', to, 'version', newVersion, 'updated_at', at,
      'updated_by', actor, 'evidence_key', KEYS[4])
  end,
  function(run) return run('LREM', KEYS[2], '-1', id) end,
  function(run) return run('LPUSH', KEYS[3], id) end,
}
-- A write the user may not run would stop the script after the writes before it: ask first.
-- XINFO STREAM too, which the dry run reads and the fallback reads on every promotion: one
-- user is fit for both paths or for neither.
if redis.acl_check_cmd then
  local refusal
  local function ask(command, key, ...)
    if not redis.acl_check_cmd(command, key, ...) then refusal = denied(command, key) end
  end
  for i = 1, #writes do
    writes[i](ask)
    if refusal then return refusal end
  end
  for i = 5, 6 do
    if not redis.acl_check_cmd('XINFO', 'STREAM', KEYS[i]) then
      return denied('xinfo|stream', KEYS[i])
    end
  end
end

local function eventsExhausted()
  return fail('PRP_EVENTS_EXHAUSTED', 'the events stream ' .. KEYS[5] .. ' has used its last '
    .. 'possible id, so no promotion can be recorded in it; nothing was written. Rename the '
    .. 'stream to keep its entries (RENAME ' .. KEYS[5] .. ' ' .. KEYS[5] .. '-old) or delete '
    .. 'it, then promote again')
end

-- A stream whose last generated id is the largest possible: XADD * would fail on it. XINFO
-- knows the last id even when the entry that had it is gone (XSETID, XDEL). Nil when it is
-- not; else the error reply (the refusal, or Redis's error for XINFO).
local function exhausted(key, refusal)
  local info = redis.pcall('XINFO', 'STREAM', key)
  if info.err then
    return readFailed(info.err, 'xinfo|stream', key, { 'XINFO', 'STREAM', key })
  end
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id'
        and info[i + 1] == '18446744073709551615-18446744073709551615' then
      return refusal()
    end
  end
  return nil
end

local function historyExhausted()
  return fail('PRP_EVENTS_EXHAUSTED', 'the history stream ' .. KEYS[6] .. ' has used its last '
    .. 'possible id, so no move of ' .. id .. ' can be recorded in it; nothing was written. '
    .. 'Rename the stream to keep its entries (RENAME ' .. KEYS[6] .. ' ' .. KEYS[6] .. '-old) '
    .. 'or delete it, then ' .. moveVerb .. ' again')
end

if dryRun == '1' then
  if eventsType == 'stream' then
    local refusal = exhausted(KEYS[5], eventsExhausted)
    if refusal then return refusal end
  end
  if historyType == 'stream' then
    local refusal = exhausted(KEYS[6], historyExhausted)
    if refusal then return refusal end
  end
  local position = redis.pcall('LPOS', KEYS[2], id, 'RANK', -1)
  if type(position) == 'table' and position.err then
    return readFailed(position.err, 'lpos', KEYS[2], { 'LPOS', KEYS[2], id })
  end
  local wouldRemove = position and 1 or 0
  return reply('dry_run', versionNumber + 1, evidenceKey, wouldRemove, at)
end

-- The history's XADD comes second: it must not fail after the first write.
if historyType == 'stream' then
  local refusal = exhausted(KEYS[6], historyExhausted)
  if refusal then
    -- Both streams exhausted: the events stream is named, as the dry run and the fallback do.
    local first = eventsType == 'stream' and exhausted(KEYS[5], eventsExhausted)
    return first or refusal
  end
end

local added = writes[1](redis.pcall)
if type(added) == 'table' and added.err then
  if string.find(added.err, 'exhausted the last possible ID', 1, true) then
    return eventsExhausted()
  end
  return redis.error_reply(added.err) -- OOM: nothing was written
end
writes[2](redis.call)
writes[3](redis.call)
writes[4](redis.call)
local removed = writes[5](redis.call)
writes[6](redis.call)

return reply(kind == 'promote' and 'promoted' or 'demoted', versionNumber + 1, evidenceKey,
  removed > 0 and 1 or 0, at)
