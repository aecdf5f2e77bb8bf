// kinesalite.js runs kinesalite (https://github.com/mhart/kinesalite) bound to one address, with the stream
// timings set for tests (streams become ACTIVE at once) and three test controls that real Kinesis has but
// kinesalite lacks:
//
//   - per-shard rate limits like Kinesis's own: GetRecords calls per second and PutRecords records per second.
//     A GetRecords call over the limit fails with ProvisionedThroughputExceededException; PutRecords entries
//     over their shard's limit fail individually (FailedRecordCount > 0, ErrorCode
//     ProvisionedThroughputExceededException) and are NOT stored, exactly like a partial failure of Kinesis.
//     Off by default.
//   - a clock offset added to kinesalite's Date.now, so a test can age shard iterators past kinesalite's own
//     5-minute expiry (GetRecords then answers ExpiredIteratorException) without waiting.
//   - counters of what was throttled.
//
// Controls are plain HTTP on the same port (kinesalite ignores the path of API calls):
//   POST /kappa-control/clock?advanceMs=N                   add N ms to kinesalite's clock
//   POST /kappa-control/limits?getRecordsPerSecond=N&putRecordsPerSecond=M   0 = unlimited
//   GET  /kappa-control/stats                               {"getRecordsCalls":n,"failedPutRecords":m,...}
//
// Usage: node kinesalite.js <kinesalite module dir> [port (default 4567; 0 picks a free one)] [host (default 127.0.0.1)]
// It prints "kinesalite listening on HOST:PORT" once it accepts connections.
'use strict'

const path = require('path')
const crypto = require('crypto')

const moduleDir = process.argv[2] && path.resolve(process.argv[2])
const port = parseInt(process.argv[3] || '4567', 10)
const host = process.argv[4] || '127.0.0.1'
if (!moduleDir) {
  console.error('usage: node kinesalite.js <kinesalite module dir> [port] [host]')
  process.exit(2)
}

// The clock: kinesalite reads Date.now for iterator ages, sequence numbers and arrival timestamps.
const realNow = Date.now
let clockOffsetMs = 0
Date.now = function() { return realNow() + clockOffsetMs }

const db = require(path.join(moduleDir, 'db'))
const BigNumber = require(require.resolve('bignumber.js', {paths: [moduleDir]}))
const limits = {getRecordsPerSecond: 0, putRecordsPerSecond: 0}
const stats = {getShardIteratorCalls: 0, getRecordsCalls: 0, throttledGetRecords: 0, putRecordsCalls: 0,
  putRecordsEntries: 0, failedPutRecords: 0, clockOffsetMs: 0}

// getCalls[stream/shard] holds the real times of the GetRecords calls of the last second.
const getCalls = new Map()
// putCounts[stream/shard] = {second, n}: records accepted in the current real second.
const putCounts = new Map()

function throttled(stream, shardId) {
  return db.clientError('ProvisionedThroughputExceededException',
    'Rate exceeded for shard ' + shardId + ' in stream ' + stream + ' under account 000000000000.')
}

// shardOfIterator decodes a kinesalite iterator the way getRecords does; null when it is not one.
function shardOfIterator(iterator) {
  try {
    const buf = Buffer.from(iterator, 'base64')
    const decipher = crypto.createDecipheriv('aes-256-cbc', db.ITERATOR_PWD_KEY, db.ITERATOR_PWD_IV)
    const pieces = Buffer.concat([decipher.update(buf.slice(8)), decipher.final()]).toString('utf8').split('/')
    return pieces.length == 5 ? {stream: pieces[1], shardId: pieces[2]} : null
  } catch (e) {
    return null
  }
}

function wrapAction(name, wrap) {
  const file = require.resolve(path.join(moduleDir, 'actions', name))
  const orig = require(file)
  require.cache[file].exports = wrap(orig)
}

wrapAction('getRecords', (orig) => function getRecords(store, data, cb) {
  stats.getRecordsCalls++
  const where = limits.getRecordsPerSecond > 0 && shardOfIterator(data.ShardIterator)
  if (where) {
    const key = where.stream + '/' + where.shardId, now = realNow()
    const calls = (getCalls.get(key) || []).filter((t) => now - t < 1000)
    if (calls.length >= limits.getRecordsPerSecond) {
      getCalls.set(key, calls)
      stats.throttledGetRecords++
      return cb(throttled(where.stream, where.shardId))
    }
    calls.push(now)
    getCalls.set(key, calls)
  }
  return orig(store, data, cb)
})

wrapAction('putRecords', (orig) => function putRecords(store, data, cb) {
  stats.putRecordsCalls++
  stats.putRecordsEntries += data.Records.length
  if (!(limits.putRecordsPerSecond > 0)) return orig(store, data, cb)
  store.getStream(data.StreamName, function(err, stream) {
    if (err) return orig(store, data, cb) // let kinesalite report it
    const second = Math.floor(realNow() / 1000), keep = [], failed = new Array(data.Records.length)
    data.Records.forEach(function(record, i) {
      const hashKey = record.ExplicitHashKey != null ? new BigNumber(record.ExplicitHashKey) :
        db.partitionKeyToHashKey(record.PartitionKey)
      const shard = stream.Shards.find((s) => s.SequenceNumberRange.EndingSequenceNumber == null &&
        hashKey.comparedTo(s.HashKeyRange.StartingHashKey) >= 0 && hashKey.comparedTo(s.HashKeyRange.EndingHashKey) <= 0)
      if (!shard) return keep.push(i)
      const key = data.StreamName + '/' + shard.ShardId
      let c = putCounts.get(key)
      if (!c || c.second != second) putCounts.set(key, c = {second: second, n: 0})
      if (c.n >= limits.putRecordsPerSecond) {
        failed[i] = {ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: 'Rate exceeded for shard ' + shard.ShardId + ' in stream ' + data.StreamName +
            ' under account 000000000000.'}
        return
      }
      c.n++
      keep.push(i)
    })
    const nFailed = data.Records.length - keep.length
    stats.failedPutRecords += nFailed
    if (keep.length == 0) return cb(null, {FailedRecordCount: nFailed, Records: failed})
    orig(store, Object.assign({}, data, {Records: keep.map((i) => data.Records[i])}), function(err, res) {
      if (err) return cb(err)
      keep.forEach((i, j) => { failed[i] = res.Records[j] })
      cb(null, {FailedRecordCount: nFailed, Records: failed})
    })
  })
})

// kinesalite 3.3.3 never answers GetShardIterator AT_TIMESTAMP when no record of the shard arrived at or after
// the timestamp (its lazy stream ends without a head). Kinesis answers with an iterator at the tip of the shard,
// which is what LATEST gives, so do that.
wrapAction('getShardIterator', (orig) => function getShardIterator(store, data, cb) {
  stats.getShardIteratorCalls++
  if (data.ShardIteratorType != 'AT_TIMESTAMP' || data.Timestamp == null || data.Timestamp * 1000 > Date.now()) {
    return orig(store, data, cb)
  }
  let shardIx
  try {
    shardIx = db.resolveShardId(data.ShardId).shardIx
  } catch (e) {
    return orig(store, data, cb)
  }
  store.getStream(data.StreamName, function(err) {
    if (err) return orig(store, data, cb)
    let found = false, done = false
    const rs = store.getStreamDb(data.StreamName).createReadStream({gt: db.shardIxToHex(shardIx), lt: db.shardIxToHex(shardIx + 1)})
    const finish = () => {
      if (done) return
      done = true
      if (found) return orig(store, data, cb)
      orig(store, Object.assign({}, data, {ShardIteratorType: 'LATEST', Timestamp: undefined}), cb)
    }
    rs.on('data', (item) => {
      if (item.value.ApproximateArrivalTimestamp >= data.Timestamp) {
        found = true
        rs.destroy()
        finish()
      }
    })
    rs.on('end', finish)
    rs.on('close', finish)
    rs.on('error', finish)
  })
})

const kinesalite = require(moduleDir)
const server = kinesalite({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000})
const handler = server.listeners('request')[0]
server.removeAllListeners('request')
server.on('request', function(req, res) {
  if (!req.url.startsWith('/kappa-control/')) return handler(req, res)
  const u = new URL(req.url, 'http://localhost')
  const reply = (code, body) => {
    res.statusCode = code
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify(body))
  }
  req.resume()
  switch (u.pathname) {
    case '/kappa-control/clock': {
      const ms = parseInt(u.searchParams.get('advanceMs') || '', 10)
      if (!(ms >= 0)) return reply(400, {error: 'advanceMs must be a non-negative integer'})
      clockOffsetMs += ms
      stats.clockOffsetMs = clockOffsetMs
      return reply(200, stats)
    }
    case '/kappa-control/limits':
      for (const k of Object.keys(limits)) {
        if (u.searchParams.has(k)) {
          const n = parseInt(u.searchParams.get(k), 10)
          if (!(n >= 0)) return reply(400, {error: k + ' must be a non-negative integer'})
          limits[k] = n
        }
      }
      return reply(200, limits)
    case '/kappa-control/stats':
      return reply(200, stats)
  }
  reply(404, {error: 'unknown control ' + u.pathname})
})
server.on('error', function(err) {
  console.error('kinesalite: ' + err.message)
  process.exit(1)
})
server.listen(port, host, function() {
  console.log('kinesalite listening on ' + host + ':' + server.address().port)
})
// With KAPPA_EXIT_ON_STDIN_EOF=1, exit when stdin closes: a test binary that dies without cleaning up (killed,
// or a panic) closes the pipe, and kinesalite must not outlive it.
if (process.env.KAPPA_EXIT_ON_STDIN_EOF == '1') {
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
}
