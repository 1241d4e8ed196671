// What a newcomer reads and builds from: docs that stand alone, a quiet install, a clean Docker
// context, deployment examples that match the image.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');
const read = (p: string) => readFile(path.join(root, p), 'utf8');
const ARTICLE = 'Guillaume Blaquière, "Secure Cloud Run, Cloud Functions and App Engine with API Keys and Cloud Endpoint"';

describe('packaging and docs', () => {
  test('.dockerignore keeps dependencies, tools, demo key stores, artifacts and git out of the build context', async () => {
    const lines = (await read('.dockerignore')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const must of ['.git', 'node_modules', '.tools', '.demo', 'test-artifacts', 'keys.yaml', '**/keys.yaml', '*.pem']) {
      assert.ok(lines.includes(must), `.dockerignore lists ${must}`);
    }
    // What the Dockerfile copies must stay in.
    const docker = await read('Dockerfile');
    for (const [, src] of docker.matchAll(/^COPY (?!--from)(\S+)/gm)) assert.ok(!lines.includes(src!), `${src} is copied, so not ignored`);
  });

  test('.npmrc keeps `npm ci` on an older Node to errors only', async () => {
    assert.match(await read('.npmrc'), /^loglevel=error$/m);
  });

  test('Kubernetes: read-only root file system, with a writable emptyDir where the image keeps its caches', async () => {
    const docs = parseAllDocuments(await read('deploy/kubernetes/deployment.yaml')).map((d) => d.toJS());
    const deployment = docs.find((d) => d?.kind === 'Deployment');
    const pod = deployment.spec.template.spec;
    const container = pod.containers.find((c: { name: string }) => c.name === 'gateway') ?? pod.containers[0];
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    const docker = await read('Dockerfile');
    const cacheDirs = ['ENDPOINTS_CACHE_DIR', 'NODE_COMPILE_CACHE'].map((v) => new RegExp(`${v}=(\\S+)`).exec(docker)![1]!);
    for (const dir of cacheDirs) {
      const mount = container.volumeMounts.find((m: { mountPath: string }) => dir === m.mountPath || dir.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `${dir} is under a mounted volume`);
      assert.ok(!mount.readOnly, `${dir}'s volume is writable`);
      const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
      assert.ok(volume.emptyDir, `${dir} is on an emptyDir`);
    }
  });

  test('the Cloud Run guide sets --memory and says why', async () => {
    const guide = await read('docs/deploy-cloud-run.md');
    assert.match(guide, /gcloud run deploy endpoints-gateway[^`]*--memory=512Mi/);
    assert.match(guide, /171-205 MiB after load/);
    assert.doesNotMatch(guide, /ENDPOINTS_SHUTDOWN_GRACE` \(10 s\)/);
  });

  test('the example spec and the demo name the article they follow', async () => {
    for (const f of ['endpoint.example.yaml', 'deploy/kubernetes/configmap-spec.yaml', 'demo/run.ts', 'demo/hello-backend.ts']) {
      const text = (await read(f)).replace(/\n\s*(#|\/\/|\*)\s*/g, ' ');
      assert.ok(text.includes(ARTICLE), `${f} names the article`);
    }
  });

  test('the README stands alone: no link outside the repository, no file the repository lacks', async () => {
    const readme = await read('README.md');
    assert.doesNotMatch(readme, /\.\.\/shared\//);
    assert.doesNotMatch(readme, /serve --spec endpoint\.yaml/);
  });

  test('the README and the docs link only files the repository has; npm script commands name no path above its root', async () => {
    const docs = ['README.md', 'deploy/kubernetes/README.md', ...(await readdir(path.join(root, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    for (const doc of docs) {
      const text = await read(doc);
      assert.doesNotMatch(text, /\.\.\/shared\//, doc);
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        await access(path.join(root, path.dirname(doc), target!)).catch(() => assert.fail(`${doc} links ${target}, which the repository lacks`));
      }
      // npm runs scripts from the package root, wherever they are typed: a ../ path there leaves the repository.
      assert.doesNotMatch(text, /npm run[^\n]*--spec \.\.\//, `${doc}: npm run gateway with a --spec above the repository's root`);
    }
  });
});
