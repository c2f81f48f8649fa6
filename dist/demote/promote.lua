--[[
  promote.lua: move one PRP one state forward (a promotion) or back (a demotion), atomically,
  on evidence. Contract v2: KEYS[6] (the PRP's history) and ARGV[9] (KIND) are new. Contract v3:
  the hash's validated_commit, and complete only on it (below).

  Contract: CONTRACT.md section 3. The TypeScript fallback's decision (src/core/decide.ts)
  mirrors this file section for section; test/vectors keep them equal. Every bound, key type,
  move and refusal text is data of src/core/contract.ts, which npm run generate writes into
  the generated data block below (plain locals, and tables built only where
  they are read); the code after it reads that data and writes no text or bound of its own.
  The evidence gate is local functions, each testable alone (test/core/luaUnits.test.ts).

  KEYS (all in one namespace NS, so one Redis Cluster slot through the {NS} hash tag)
    KEYS[1]  {NS}:prp:ID                 hash   status, version, updated_at, updated_by, evidence_key;
                                                and validated_commit (v3): integration -> validate
                                                writes its evidence's merge_commit there
    KEYS[2]  {NS}:queue:FROM             list   the id is removed from here (LREM from the right)
    KEYS[3]  {NS}:queue:TO               list   the id is LPUSHed here
    KEYS[4]  {NS}:evidence:ID:TOKEN      string the evidence JSON, exactly as given, with a TTL
    KEYS[5]  {NS}:events                 stream one entry per move, capped near EVENTS_MAXLEN
    KEYS[6]  {NS}:history:ID             stream the PRP's own moves, capped near HISTORY_MAXLEN

  ARGV
    ARGV[1]  ID                 ID_PATTERN, at most ID_MAX_LENGTH
    ARGV[2]  FROM               the state the PRP is in
    ARGV[3]  TO                 promote: the state after FROM; demote: any state before FROM
    ARGV[4]  EVIDENCE_JSON      a JSON object, at most EVIDENCE_MAX_BYTES
    ARGV[5]  TTL_SECONDS        evidence TTL, 1 to TTL_MAX_SECONDS
    ARGV[6]  ACTOR              who promotes, at most ACTOR_MAX_BYTES, may be empty
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


-- BEGIN GENERATED data (npm run generate writes this block from src/core/contract.ts)
-- Keys and arguments: KEYS[i] holds a KEY_TYPES[i] (or is missing); ARGV_COUNT arguments.
local KEY_TYPES = { 'hash', 'list', 'list', 'string', 'stream', 'stream' }
local ARGV_COUNT = 9
local ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$'
local ID_MAX_LENGTH = 128
local TOKEN_PATTERN = '^[A-Za-z0-9._-]+$'
local TOKEN_MAX_LENGTH = 128
local NAMESPACE_PATTERN = '^{([A-Za-z0-9_.-]+)}:prp:'
local NAMESPACE_MAX_LENGTH = 64
local TTL_MAX_SECONDS, TTL_MAX_DIGITS = 31536000, 8
local ACTOR_MAX_BYTES = 256
-- A version (and a stored time) is at most VERSION_MAX_DIGITS: exact in a Lua number.
local VERSION_MAX_DIGITS, MAX_VERSION = 15, 999999999999999
local EVIDENCE_MAX_BYTES = 65536
-- Evidence JSON nesting: arrays and objects at most this deep (cjson.decode_max_depth).
local EVIDENCE_MAX_DEPTH = 1000
-- The streams' caps (XADD MAXLEN ~), and the id after which XADD * cannot add.
local EVENTS_MAXLEN, HISTORY_MAXLEN = '100000', '1000'
local LAST_POSSIBLE_ID = '18446744073709551615-18446744073709551615'
-- The kinds of move, and what a move of each is called.
local MOVE_NOUNS = { promote = 'promotion', demote = 'demotion' }
-- Every move, 'KIND FROM TO', and the evidence it requires: 'FIELD RULE ...' in check order.
-- Built on every call, as are KEY_TYPES, MOVE_NOUNS and SHA_LENGTHS: one table each.
local MOVES = {
  ['promote pending development'] = 'requirements_analysis present acceptance_criteria present',
  ['promote development integration'] = 'implementation_complete true local_validation present branch_name ref',
  ['promote integration validate'] = 'smoke_ci_passed true merge_commit sha',
  ['promote validate complete'] = 'quality_gates_passed true validator_approval text merge_commit sha',
  ['demote development pending'] = 'reason text',
  ['demote integration pending'] = 'reason text',
  ['demote integration development'] = 'reason text',
  ['demote validate pending'] = 'reason text',
  ['demote validate development'] = 'reason text',
  ['demote validate integration'] = 'reason text',
}
-- The rules' parameters (RULES).
local REF_MAX_BYTES = 255
local SHA_LENGTHS = { [40] = true, [64] = true }
-- Complete only on the validated commit (v3): promote integration validate records
-- its evidence's merge_commit in the hash field validated_commit; promote validate complete needs it.
local VALIDATED_COMMIT_FIELD, COMMIT_FIELD = 'validated_commit', 'merge_commit'
local RECORDED_BY = 'promote integration validate'
local REQUIRED_BY = 'promote validate complete'
-- What a permission error adds to Redis's words.
local PERMISSION_NOTE = '; nothing was written (docs/acl-rules.txt lists the rules a promotion needs)'
-- The texts only a refusal reads, built on the way to one (one function: a closure costs
-- each call too). Every refusal (REFUSALS): 'CODE template', %1..%9 what refuse() fills
-- in; each rule's message; why a demotion FROM -> TO is refused when both are states, by
-- FROM (false: the general rule, the fourth value).
local function TEXTS()
  return {
    argumentCount = 'PRP_BAD_ARGUMENT expected 6 keys and 9 arguments, got %1 keys and %2 '
      .. 'arguments (KEYS: prp, queue:FROM, queue:TO, evidence:ID:TOKEN, events, history:ID; '
      .. 'ARGV: ID FROM TO EVIDENCE_JSON TTL_SECONDS ACTOR EXPECTED_VERSION DRY_RUN KIND)',
    badId = 'PRP_BAD_ARGUMENT PRP id must be 1-128 of A-Z a-z 0-9 . _ - starting with a letter or '
      .. 'digit',
    badTtl = 'PRP_BAD_ARGUMENT TTL_SECONDS must be an integer from 1 to 31536000',
    badActor = 'PRP_BAD_ARGUMENT ACTOR must be at most 256 bytes',
    badExpectedVersion = 'PRP_BAD_ARGUMENT EXPECTED_VERSION must be empty or a non-negative '
      .. 'integer (at most 15 digits)',
    badDryRun = 'PRP_BAD_ARGUMENT DRY_RUN must be 0 or 1',
    badKind = 'PRP_BAD_ARGUMENT KIND must be promote or demote',
    badNamespaceKey = 'PRP_BAD_ARGUMENT KEYS[1] must be {NS}:prp:ID with NS 1-64 of A-Z a-z 0-9 _ '
      .. '. -',
    badKey = 'PRP_BAD_ARGUMENT KEYS[%1] must be %2',
    badEvidenceKey = 'PRP_BAD_ARGUMENT KEYS[4] must be %1TOKEN with TOKEN 1-128 of A-Z a-z 0-9 . '
      .. '_ -',
    wrongType = 'PRP_WRONG_TYPE key %1 holds a %2, expected a %3',
    cannotPromote = 'PRP_INVALID_TRANSITION cannot promote %1 -> %2; a promotion moves one step '
      .. 'forward along pending -> development -> integration -> validate -> complete',
    cannotDemote = 'PRP_INVALID_TRANSITION cannot demote %1 -> %2%3',
    evidenceTooLarge = 'PRP_EVIDENCE_INVALID evidence is %1 bytes; at most 65536 are allowed',
    evidenceNotUtf8 = 'PRP_EVIDENCE_INVALID evidence is not valid UTF-8',
    evidenceNotJson = 'PRP_EVIDENCE_INVALID evidence is not valid JSON',
    evidenceNotObject = 'PRP_EVIDENCE_INVALID evidence must be a JSON object',
    fieldBroken = 'PRP_EVIDENCE_INVALID evidence field %1 %2 (%3 -> %4)',
    notFound = 'PRP_NOT_FOUND no PRP %1: hash %2 does not exist; whoever creates PRPs must create '
      .. 'it with status %3',
    versionNotInteger = 'PRP_WRONG_TYPE field version of %1 is not an integer',
    stateMismatch = 'PRP_STATE_MISMATCH PRP %1 is in state %2, not %3; cannot %4 %3 -> %5',
    versionConflict = 'PRP_VERSION_CONFLICT PRP %1 is at version %2, expected version %3; it '
      .. 'changed since it was read',
    noValidatedCommit = 'PRP_EVIDENCE_INVALID PRP %1 has no validated commit (hash field '
      .. 'validated_commit is missing or not a commit sha; a PRP that reached validate before '
      .. 'contract v3 has none): demote it validate -> integration, promote it integration -> '
      .. 'validate on its merge commit, then complete (validate -> complete)',
    commitNotValidated = 'PRP_EVIDENCE_INVALID evidence field merge_commit is %1, but PRP %2 was '
      .. 'validated on %3 (hash field validated_commit); only the validated commit can complete: '
      .. 'complete with merge_commit %3, or demote to integration and validate %1 first (validate '
      .. '-> complete)',
    versionAtMaximum = 'PRP_WRONG_TYPE field version of %1 is %2, the largest a %3 can raise (15 '
      .. 'digits)',
    evidenceExists = 'PRP_EVIDENCE_EXISTS evidence key %1 exists already and a %2 never '
      .. 'overwrites evidence; nothing was written; %3 again with a token no earlier move of %4 '
      .. 'used',
    eventsExhausted = 'PRP_EVENTS_EXHAUSTED the events stream %1 has used its last possible id, '
      .. 'so no promotion can be recorded in it; nothing was written. Rename the stream to keep '
      .. 'its entries (RENAME %1 %1-old) or delete it, then promote again',
    historyExhausted = 'PRP_EVENTS_EXHAUSTED the history stream %1 has used its last possible id, '
      .. 'so no move of %2 can be recorded in it; nothing was written. Rename the stream to keep '
      .. 'its entries (RENAME %1 %1-old) or delete it, then %3 again',
  }, {
    present = 'is required: a non-empty string, true, a number, or a non-empty array or object',
    ['true'] = 'must be JSON true (the boolean, not a string)',
    text = 'must be a non-empty string',
    ref = 'must be a ref: 1-255 bytes with no whitespace or control characters',
    sha = 'must be a commit sha: 40 or 64 lowercase hexadecimal characters',
  }, {
    pending = '; a demotion moves to an earlier state, and pending is the first',
    development = '; a demotion moves to an earlier state: from development to pending',
    integration = '; a demotion moves to an earlier state: from integration to pending or '
      .. 'development',
    validate = '; a demotion moves to an earlier state: from validate to pending, development or '
      .. 'integration',
    complete = false,
  }, '; a demotion moves back from development, integration or validate to an earlier state; '
    .. 'complete is final'
end
-- END GENERATED data (edit src/core/contract.ts, then npm run generate)

-- The contract's refusal `name` (REFUSALS) as an error reply: its code first (Redis counts
-- it in INFO errorstats), then its template with %1..%9 replaced by the values, once each.
local function refuse(name, ...)
  local values = { ... }
  return redis.error_reply((string.gsub((TEXTS())[name], '%%(%d)', function(n)
    return values[tonumber(n)]
  end)))
end

-- Redis's own code for a permission error, so callers see one (NOPERM), not a refusal.
local function denied(command, key)
  return redis.error_reply('NOPERM this user has no permissions to run the \''
    .. string.lower(command) .. '\' command' .. (key and (' on key ' .. key) or '')
    .. PERMISSION_NOTE)
end

-- A read Redis refused: a permission error naming the command and key where the server can
-- tell (Redis 7.0 words a denial inside a script without naming either), else Redis's words.
local function readFailed(err, name, key, command)
  if redis.acl_check_cmd and not redis.acl_check_cmd(unpack(command)) then
    return denied(name, key)
  end
  return redis.error_reply(err)
end

-- The evidence gate: size, UTF-8, JSON held to the letter, an object, then each field's rule.

-- Whether `text` is UTF-8: JSON text is (RFC 8259 8.1), and cjson passes any byte through.
-- Returns false when it is not; else true, whether it holds a raw control character (which
-- JSON allows only escaped; DEL, 127, is none), and where its leading run of printable ASCII
-- ends. One anchored match measures that run (compact ASCII evidence is all run, and costs
-- that match alone); from there a find looks for a control character or a byte above 0x7F,
-- where a walk begins: one character per step, each checked against the well-formed
-- sequences of Unicode's table 3-7 (no overlong form, no surrogate, nothing above U+10FFFF,
-- none cut short). The byte after a character is read with it: when it is not ASCII either,
-- the next step starts there without a find (64 KiB of CJK text: about 2 ms).
local function scanUtf8(text)
  local special = '[%z\1-\8\11\12\14-\31\128-\255]'
  local control = false
  local _, plain = string.find(text, '^[ -\127]*')
  local scan = plain < #text and string.find(text, special, plain + 1)
  while scan do
    local a, b, c, d, e = string.byte(text, scan, scan + 4)
    if a < 128 then
      control = true
      special = '[\128-\255]'
      scan = string.find(text, special, scan + 1)
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
        return false
      end
      scan = scan + length
      if not after then
        scan = nil
      elseif after < 128 then
        scan = string.find(text, special, scan)
      end
    end
  end
  return true, control, plain
end

-- cjson.decode of `text` under the contract's settings, as pcall answers (ok, the value).
-- cjson's settings are the server's, shared by every script, and any caller allowed EVAL can
-- change them (decode_max_depth(1) would refuse nested evidence, 5000 would take what the
-- bound refuses): each one the decode relies on, the number switch and the nesting bound, is
-- set here, and what was there is put back before anything else can run. (The one encode, of
-- a string in the `already` reply, depends on no setting.)
local function decodeJson(text)
  local strictNumbers, maxDepth = cjson.decode_invalid_numbers, cjson.decode_max_depth
  local savedNumbers, savedDepth
  if strictNumbers then
    savedNumbers = strictNumbers()
    strictNumbers(false)
  end
  if maxDepth then
    savedDepth = maxDepth()
    maxDepth(EVIDENCE_MAX_DEPTH)
  end
  local ok, decoded = pcall(cjson.decode, text)
  if maxDepth then maxDepth(savedDepth) end
  if strictNumbers then strictNumbers(savedNumbers) end
  return ok, decoded
end

-- Whether `text`, which cjson decoded, holds what cjson takes and JSON refuses: a raw tab or
-- line break in a string, or a number strtod reads and JSON does not (1., -.5, 1.e5; NaN,
-- Infinity and hex only where an older cjson has no strict number switch). `plain` is where
-- scanUtf8's printable run ends. It looks only in text that could hold one: a tab or line
-- break after that run, or a dot a number could hold wrongly (cjson took the text, so outside
-- strings a dot is in a number: after a digit or a minus sign, or in a hex number; a dot
-- after a letter, as in a URL, or between digits needs no look). There, with escapes dropped,
-- every string free of raw tabs and line breaks is cut out: a quote left over means a string
-- held one, and what is left outside strings may have a dot only between digits.
local function laxJson(text, plain)
  local suspect = plain < #text and string.find(text, '[\t\n\r]', plain + 1)
  if not suspect then
    local dot = string.find(text, '.', 1, true)
    suspect = dot and (string.find(text, '0x', 1, true) or string.find(text, '0X', 1, true))
    while dot and not suspect do
      local before, after = string.byte(text, dot - 1), string.byte(text, dot + 1)
      suspect = not cjson.decode_invalid_numbers or before == 45
        or (before >= 48 and before <= 57 and not (after and after >= 48 and after <= 57))
      dot = string.find(text, '.', dot + 1, true)
    end
  end
  if not suspect then return false end
  if string.find(text, '\\', 1, true) then text = string.gsub(text, '\\.', '') end
  local between = ' ' .. string.gsub(text, '"[^"\t\n\r]*"', '') .. ' '
  return (string.find(between, '"', 1, true) or string.find(between, '%D%.')
    or string.find(between, '%.%D')) ~= nil
end

-- The evidence as the JSON object it holds, held to JSON: the decoded table; or nil, the
-- name of the refusal (REFUSALS) and its value.
local function strictJson(text)
  if #text > EVIDENCE_MAX_BYTES then return nil, 'evidenceTooLarge', #text end
  local utf8, control, plain = scanUtf8(text)
  if not utf8 then return nil, 'evidenceNotUtf8' end
  local ok, decoded
  if not control then ok, decoded = decodeJson(text) end
  if not ok or laxJson(text, plain) then return nil, 'evidenceNotJson' end
  if type(decoded) ~= 'table' or not string.find(text, '^[ \t\r\n]*{') then
    return nil, 'evidenceNotObject'
  end
  return decoded
end

-- Whether `v`, a decoded value (nil when missing), keeps `rule` (RULES).
local function ruleKept(rule, v)
  local t = type(v)
  if rule == 'present' then
    return (t == 'string' and string.find(v, '%S') ~= nil) or v == true or t == 'number'
      or (t == 'table' and next(v) ~= nil)
  elseif rule == 'true' then
    return v == true
  elseif rule == 'text' then
    return t == 'string' and string.find(v, '%S') ~= nil
  elseif rule == 'ref' then
    return t == 'string' and #v >= 1 and #v <= REF_MAX_BYTES and not string.find(v, '[%z\1-\32\127]')
  elseif rule == 'sha' then
    return t == 'string' and SHA_LENGTHS[#v] == true and not string.find(v, '[^0-9a-f]')
  end
  return false
end

-- The first field of `rules` ('FIELD RULE FIELD RULE ...', as MOVES holds them) that
-- `decoded` breaks, and its rule; nil when it keeps them all.
local function brokenField(rules, decoded)
  for field, rule in string.gmatch(rules, '(%S+) (%S+)') do
    if not ruleKept(rule, decoded[field]) then return field, rule end
  end
  return nil
end

if #KEYS ~= #KEY_TYPES or #ARGV ~= ARGV_COUNT then
  return refuse('argumentCount', #KEYS, #ARGV)
end

local id, from, to, evidence = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, actor, expected, dryRun, kind = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]

-- Arguments -------------------------------------------------------------------------------
if #id > ID_MAX_LENGTH or not string.find(id, ID_PATTERN) then
  return refuse('badId')
end
if #ttl > TTL_MAX_DIGITS or not string.find(ttl, '^[1-9][0-9]*$')
    or tonumber(ttl) > TTL_MAX_SECONDS then
  return refuse('badTtl')
end
if #actor > ACTOR_MAX_BYTES then
  return refuse('badActor')
end
if expected ~= '' and (#expected > VERSION_MAX_DIGITS or not string.find(expected, '^[0-9]+$')) then
  return refuse('badExpectedVersion')
end
if dryRun ~= '0' and dryRun ~= '1' then
  return refuse('badDryRun')
end
-- What a move of this kind is called, in messages.
local moveNoun = MOVE_NOUNS[kind]
if not moveNoun then
  return refuse('badKind')
end

-- Keys: exactly the ones the arguments name ------------------------------------------------
local ns = string.match(KEYS[1], NAMESPACE_PATTERN)
if not ns or #ns > NAMESPACE_MAX_LENGTH then
  return refuse('badNamespaceKey')
end
local prefix = '{' .. ns .. '}:'
if KEYS[1] ~= prefix .. 'prp:' .. id then
  return refuse('badKey', 1, prefix .. 'prp:' .. id)
end
if KEYS[2] ~= prefix .. 'queue:' .. from then
  return refuse('badKey', 2, prefix .. 'queue:' .. from)
end
if KEYS[3] ~= prefix .. 'queue:' .. to then
  return refuse('badKey', 3, prefix .. 'queue:' .. to)
end
local evidencePrefix = prefix .. 'evidence:' .. id .. ':'
local token = string.sub(KEYS[4], #evidencePrefix + 1)
if string.sub(KEYS[4], 1, #evidencePrefix) ~= evidencePrefix or #token > TOKEN_MAX_LENGTH
    or not string.find(token, TOKEN_PATTERN) then
  return refuse('badEvidenceKey', evidencePrefix)
end
if KEYS[5] ~= prefix .. 'events' then
  return refuse('badKey', 5, prefix .. 'events')
end
if KEYS[6] ~= prefix .. 'history:' .. id then
  return refuse('badKey', 6, prefix .. 'history:' .. id)
end

-- Key types ----------------------------------------------------------------------------------
-- The hash is read here, once: HMGET answers WRONGTYPE for a key of another type, so it
-- doubles as the hash's type check (one call fewer than TYPE then HMGET).
local current = redis.pcall('HMGET', KEYS[1], 'status', 'version', 'evidence_key', 'updated_at',
  VALIDATED_COMMIT_FIELD)
if current.err and not string.find(current.err, '^WRONGTYPE') then
  -- Only WRONGTYPE means another type. Anything else (a denied HMGET) is no fact about the
  -- PRP: return it as it is, named plainly where the server can say it was a permission.
  return readFailed(current.err, 'hmget', KEYS[1], { 'HMGET', KEYS[1], 'status' })
end
local evidenceType, eventsType, historyType
for i = 1, #KEY_TYPES do
  local t = KEY_TYPES[1]
  if i > 1 or current.err then
    t = redis.pcall('TYPE', KEYS[i])
    if t.err then return readFailed(t.err, 'type', KEYS[i], { 'TYPE', KEYS[i] }) end
    t = t.ok
  end
  if t ~= 'none' and t ~= KEY_TYPES[i] then
    return refuse('wrongType', KEYS[i], t, KEY_TYPES[i])
  end
  if i == 4 then evidenceType = t elseif i == 5 then eventsType = t elseif i == 6 then
    historyType = t
  end
end

-- Transition ---------------------------------------------------------------------------------
-- The move's evidence rules, 'FIELD RULE ...', in the order fields are checked and reported in.
local move = kind .. ' ' .. from .. ' ' .. to
local rules = MOVES[move]
if not rules then
  if kind == 'promote' then return refuse('cannotPromote', from, to) end
  local _, _, notEarlier, rule = TEXTS()
  return refuse('cannotDemote', from, to, notEarlier[to] ~= nil and notEarlier[from] or rule)
end

-- Evidence -----------------------------------------------------------------------------------
local decoded, invalid, value = strictJson(evidence)
if not decoded then
  return refuse(invalid, value)
end
local brokenName, brokenRule = brokenField(rules, decoded)
if brokenName then
  local _, ruleMessages = TEXTS()
  return refuse('fieldBroken', brokenName, ruleMessages[brokenRule], from, to)
end

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
  return refuse('notFound', id, KEYS[1], from)
end

local versionNumber = 0
if version then
  if not string.find(version, '^%-?[0-9]+$') or #version > VERSION_MAX_DIGITS then
    return refuse('versionNotInteger', KEYS[1])
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
  if not storedAt or #storedAt > VERSION_MAX_DIGITS or not string.find(storedAt, '^[1-9][0-9]*$') then
    local failed
    storedAt, failed = serverTimeMs()
    if failed then return failed end
  end
  return reply('already', versionNumber, cjson.encode(current[3] or ''), 0, storedAt)
end
if status ~= from then
  return refuse('stateMismatch', id, tostring(status or '(none)'), from, kind, to)
end
if expected ~= '' and tonumber(expected) ~= versionNumber then
  return refuse('versionConflict', id, string.format('%d', versionNumber), expected)
end

-- Complete only on the validated commit (contract v3): REQUIRED_BY needs the COMMIT_FIELD
-- RECORDED_BY recorded (current[5]), a commit sha, and no other; RECORDED_BY records its own
-- (recordedCommit, written by the HSET below).
local recordedCommit = move == RECORDED_BY and decoded[COMMIT_FIELD]
if move == REQUIRED_BY then
  local recorded = current[5]
  if not ruleKept('sha', recorded) then
    return refuse('noValidatedCommit', id)
  end
  if decoded[COMMIT_FIELD] ~= recorded then
    return refuse('commitNotValidated', decoded[COMMIT_FIELD], id, recorded)
  end
end

-- The largest version cannot be raised, or the next move would refuse what this one wrote.
if versionNumber >= MAX_VERSION then
  return refuse('versionAtMaximum', KEYS[1], string.format('%d', versionNumber), moveNoun)
end

-- Evidence is never overwritten: a move whose evidence key exists (a token used before, by an
-- earlier move of this PRP or by anyone) is refused, in a dry run too. After `already`, so that
-- a re-run of a move that happened (its own key there) still answers already.
if evidenceType ~= 'none' then
  return refuse('evidenceExists', KEYS[4], moveNoun, kind, id)
end

-- Writes -------------------------------------------------------------------------------------
local newVersion = string.format('%d', versionNumber + 1)
local at, timeFailed = serverTimeMs()
if timeFailed then return timeFailed end
local evidenceKey = '"' .. KEYS[4] .. '"'

-- Write i of the six, in the order they are made (the header says why), with its exact
-- arguments, as `run` runs it: asked about (redis.acl_check_cmd) or made (redis.call). One
-- function, not a table of them or of arguments: nothing to build per promotion but itself.
local function write(i, run)
  if i == 1 then
    return run('XADD', KEYS[5], 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'kind', kind, 'prp', id, 'from',
      from, 'to', to, 'version', newVersion, 'evidence_key', KEYS[4], 'actor', actor, 'at', at)
  elseif i == 2 then
    return run('XADD', KEYS[6], 'MAXLEN', '~', HISTORY_MAXLEN, '*', 'kind', kind, 'from', from,
      'to', to, 'version', newVersion, 'evidence_key', KEYS[4], 'actor', actor, 'at', at)
  elseif i == 3 then
    return run('SET', KEYS[4], evidence, 'EX', ttl)
  elseif i == 4 then
    if recordedCommit then
      return run('HSET', KEYS[1], 'status', to, 'version', newVersion, 'updated_at', at,
        'updated_by', actor, 'evidence_key', KEYS[4], VALIDATED_COMMIT_FIELD, recordedCommit)
    end
    return run('HSET', KEYS[1], 'status', to, 'version', newVersion, 'updated_at', at,
      'updated_by', actor, 'evidence_key', KEYS[4])
  elseif i == 5 then
    return run('LREM', KEYS[2], '-1', id)
  end
  return run('LPUSH', KEYS[3], id)
end
-- A write the user may not run would stop the script after the writes before it: ask first.
-- XINFO STREAM too, which the dry run reads and the fallback reads on every promotion: one
-- user is fit for both paths or for neither.
if redis.acl_check_cmd then
  local refusal
  local function ask(command, key, ...)
    if not redis.acl_check_cmd(command, key, ...) then refusal = denied(command, key) end
  end
  for i = 1, 6 do
    write(i, ask)
    if refusal then return refusal end
  end
  for i = 5, 6 do
    if not redis.acl_check_cmd('XINFO', 'STREAM', KEYS[i]) then
      return denied('xinfo|stream', KEYS[i])
    end
  end
end

-- A stream whose last generated id is the largest possible: XADD * would fail on it. XINFO
-- knows the last id even when the entry that had it is gone (XSETID, XDEL). Nil when it is
-- not; else the error reply (the refusal `name` of the key and the values after it, or Redis's
-- error for XINFO).
local function exhausted(key, name, ...)
  local info = redis.pcall('XINFO', 'STREAM', key)
  if info.err then
    return readFailed(info.err, 'xinfo|stream', key, { 'XINFO', 'STREAM', key })
  end
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id'
        and info[i + 1] == LAST_POSSIBLE_ID then
      return refuse(name, key, ...)
    end
  end
  return nil
end

if dryRun == '1' then
  if eventsType == 'stream' then
    local refusal = exhausted(KEYS[5], 'eventsExhausted')
    if refusal then return refusal end
  end
  if historyType == 'stream' then
    local refusal = exhausted(KEYS[6], 'historyExhausted', id, kind)
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
  local refusal = exhausted(KEYS[6], 'historyExhausted', id, kind)
  if refusal then
    -- Both streams exhausted: the events stream is named, as the dry run and the fallback do.
    local first = eventsType == 'stream' and exhausted(KEYS[5], 'eventsExhausted')
    return first or refusal
  end
end

local added = write(1, redis.pcall)
if type(added) == 'table' and added.err then
  if string.find(added.err, 'exhausted the last possible ID', 1, true) then
    return refuse('eventsExhausted', KEYS[5])
  end
  return redis.error_reply(added.err) -- OOM: nothing was written
end
write(2, redis.call)
write(3, redis.call)
write(4, redis.call)
local removed = write(5, redis.call)
write(6, redis.call)

return reply(kind == 'promote' and 'promoted' or 'demoted', versionNumber + 1, evidenceKey,
  removed > 0 and 1 or 0, at)
