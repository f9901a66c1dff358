// A SigV4-only S3 upstream for tests: `node s3rver.js PORT DIR BUCKET` (keys S3RVER/S3RVER).
// s3rver 5.0.0 refuses every SigV2 request, so it proves sigtap's SigV2 -> SigV4 conversion.
const S3rver = require('@20minutes/s3rver')
const [port, dir, bucket] = process.argv.slice(2)
new S3rver({ port: Number(port), address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] })
  .run()
  .then(() => console.log('listening'))
  .catch((e) => { console.error(e); process.exit(1) })
