// What the benchmark ran on: CPU model, cores, memory, kernel, Node, nginx, load generator.
import { readFileSync } from 'node:fs'
import os from 'node:os'

export function cpuModel() {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8')
    const m = /^model name\s*:\s*(.+)$/m.exec(info)
    if (m) return m[1].trim()
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown'
}

export function machineInfo(extra = {}) {
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ...extra,
  }
}
