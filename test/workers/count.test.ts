// --workers N|auto: what auto counts (the cgroup CPU quota caps the CPUs the process may use), and the refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { autoWorkers, cpusFromCpuMax, MAX_WORKERS, parseWorkers } from '../../src/workers/count.ts';
import { runCli } from '../helpers/cli.ts';

test('cpu.max: a quota over its period, rounded up; no quota is undefined', () => {
  assert.equal(cpusFromCpuMax('max 100000\n'), undefined);
  assert.equal(cpusFromCpuMax('200000 100000\n'), 2);
  assert.equal(cpusFromCpuMax('150000 100000'), 2, 'a fraction of a CPU still gets a worker');
  assert.equal(cpusFromCpuMax('50000 100000'), 1);
  assert.equal(cpusFromCpuMax('800000 100000'), 8);
  assert.equal(cpusFromCpuMax('garbage'), undefined);
});

test('auto: the cgroup quota caps the CPUs the scheduler allows; a missing cpu.max leaves them as they are', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-cpumax-'));
  try {
    const file = path.join(dir, 'cpu.max');
    await writeFile(file, '100000 100000\n');
    assert.equal(autoWorkers(file), 1);
    await writeFile(file, `${(availableParallelism() + 4) * 100000} 100000\n`);
    assert.equal(autoWorkers(file), Math.min(MAX_WORKERS, availableParallelism()), 'never more than the CPUs the process may run on');
    assert.equal(autoWorkers(path.join(dir, 'missing')), Math.min(MAX_WORKERS, availableParallelism()));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--workers takes auto or 1..64', () => {
  assert.equal(parseWorkers('3'), 3);
  assert.equal(parseWorkers('AUTO'), autoWorkers());
  for (const bad of ['0', '-1', '1.5', 'two', '', '65']) assert.throws(() => parseWorkers(bad), /--workers must be auto or a whole number from 1 to 64/, bad);
});

test('serve refuses a bad --workers (and ENDPOINTS_WORKERS) before loading anything', async () => {
  const flag = await runCli(['serve', '--spec', 'nowhere.yaml', '--workers', '0']);
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /--workers must be auto or a whole number from 1 to 64/);
  const env = await runCli(['serve', '--spec', 'nowhere.yaml'], { env: { ENDPOINTS_WORKERS: 'many' } });
  assert.equal(env.code, 1);
  assert.match(env.stderr, /--workers must be auto or a whole number from 1 to 64/);
});

test('with --workers 2 a bad spec stops the start as with one process: the problem printed once, exit 2', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-badspec-'));
  try {
    const spec = path.join(dir, 'endpoint.yaml');
    await writeFile(spec, 'swagger: "2.0"\npaths: [\n');
    const r = await runCli(['serve', '--spec', spec, '--workers', '2', '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.split('\n').filter((l) => l.includes('not valid YAML or JSON')).length, 1, r.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
