// The AWS JS SDK v3 through sigtap: `node js_sdk.cjs ENDPOINT AK SK BUCKET` (CommonJS, so that
// NODE_PATH finds the pinned packages in target/tools/node).
// A stream body goes out as aws-chunked with STREAMING-UNSIGNED-PAYLOAD-TRAILER and a CRC32 trailer.
const { S3Client, PutObjectCommand, GetObjectCommand } = require('@aws-sdk/client-s3')
const { Readable } = require('node:stream')
const { createHash } = require('node:crypto')

async function main() {
  const [endpoint, accessKeyId, secretAccessKey, bucket] = process.argv.slice(2)
  // SIGTAP_HTTPS_PROXY: through an HTTPS proxy with a proxy agent (the CA comes from
  // NODE_EXTRA_CA_CERTS, as for any node client)
  let requestHandler
  if (process.env.SIGTAP_HTTPS_PROXY) {
    const { HttpsProxyAgent } = require('https-proxy-agent')
    const { NodeHttpHandler } = require('@smithy/node-http-handler')
    requestHandler = new NodeHttpHandler({ httpsAgent: new HttpsProxyAgent(process.env.SIGTAP_HTTPS_PROXY) })
  }
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1, requestHandler })
  const data = Buffer.alloc(300000)
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) % 251
  const digest = (b) => createHash('sha256').update(b).digest('hex')
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'js/stream upload.bin', Body: Readable.from([data.subarray(0, 100000), data.subarray(100000)]), ContentLength: data.length }))
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'js/buffer.bin', Body: data }))
  for (const key of ['js/stream upload.bin', 'js/buffer.bin']) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    const bytes = Buffer.from(await got.Body.transformToByteArray())
    if (digest(bytes) !== digest(data)) throw new Error('body differs for ' + key)
  }
  console.log(JSON.stringify({ ok: true }))
}
main().catch((e) => { console.error(e); process.exit(1) })
