// Runs a js-ipfs node with the Kubo-compatible RPC API on the repo in $IPFS_PATH, offline.
//
// Used instead of `jsipfs daemon`, which crashes after start while printing the Web UI address
// (the multiaddr-to-uri override DESIGN.md needs gives it a Multiaddr it does not accept) and so
// never installs its SIGTERM handler: a stop would then skip closing the repo. Prints one line,
// `ready <api multiaddr>`, once the API answers; exits 0 after a clean stop on SIGTERM or SIGINT.
import { Daemon } from 'ipfs-daemon'

const repo = process.env.IPFS_PATH
if (!repo) {
  console.error('daemon.mjs: expected IPFS_PATH to name an initialised repo, found it unset')
  process.exit(2)
}
process.title = 'provenance-ipfs-node'

const daemon = new Daemon({ repo, offline: true, preload: { enabled: false }, repoAutoMigrate: false })
try {
  await daemon.start()
} catch (err) {
  console.error(`daemon.mjs: could not start the node on ${repo}: ${err.message}`)
  process.exit(1)
}

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  try {
    await daemon.stop()
    process.exit(0)
  } catch (err) {
    console.error(`daemon.mjs: unclean stop: ${err.message}`)
    process.exit(1)
  }
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

const api = (daemon._httpApi?._apiServers ?? []).map((s) => String(s.info.ma))
console.log(`ready ${api.join(' ')}`)
