import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { testClock } from '../testing/test-vault.ts';
import type { JsonFetcher } from './safe-fetch.ts';
import { VendorMetadataError, VendorRegistry } from './vendor-registry.ts';

let jwk: JWK;
beforeAll(async () => {
  jwk = await exportJWK((await generateKeyPair('ES256')).publicKey);
});

/**
 * A stand-in for the network (the registry's one outside edge): answers each URL with its
 * vendor's document, or with `status`, and can hold the answers until released.
 */
function fakeNetwork(options: { status?: number; held?: boolean } = {}) {
  const fetched: string[] = [];
  const waiting: Array<() => void> = [];
  let holding = options.held ?? false;
  const fetchJson: JsonFetcher = async (url) => {
    fetched.push(url);
    if (holding) await new Promise<void>((resolve) => waiting.push(resolve));
    const status = options.status ?? 200;
    return status === 200
      ? { status, body: { vendor_id: url, name: 'Shop', jwks: { keys: [jwk] } } }
      : { status, body: {} };
  };
  const hold = () => {
    holding = true;
  };
  const releaseAll = () => {
    holding = false;
    for (const release of waiting.splice(0)) release();
  };
  return { fetchJson, fetched, hold, releaseAll };
}

describe('VendorRegistry', () => {
  it('fetches a document once and answers from its cache', async () => {
    const network = fakeNetwork();
    const registry = new VendorRegistry(network.fetchJson, testClock(), false);
    await registry.get('https://shop.example/vendor.json');
    await registry.get('https://shop.example/vendor.json');
    expect(network.fetched).toEqual(['https://shop.example/vendor.json']);
  });

  it('does not fetch a document that could not be used again for 30 s', async () => {
    const network = fakeNetwork({ status: 404 });
    const clock = testClock();
    const registry = new VendorRegistry(network.fetchJson, clock, false);
    const id = 'https://gone.example/vendor.json';
    for (let i = 0; i < 5; i++)
      await expect(registry.get(id)).rejects.toThrow(/metadata answered 404/);
    expect(network.fetched).toHaveLength(1);
    clock.advance(30_000);
    await expect(registry.get(id)).rejects.toThrow(VendorMetadataError);
    expect(network.fetched).toHaveLength(2);
  });

  it('refuses, without fetching, beyond 4 fetches at once to one host and 32 in all', async () => {
    const network = fakeNetwork({ held: true });
    const registry = new VendorRegistry(network.fetchJson, testClock(), false);
    const sameHost = Array.from({ length: 4 }, (_, i) =>
      registry.get(`https://victim.example/${i}`),
    );
    await expect(registry.get('https://victim.example/4')).rejects.toThrow(/too many/);
    const others = Array.from({ length: 28 }, (_, i) =>
      registry.get(`https://host${i}.example/vendor.json`),
    );
    await expect(registry.get('https://one-more.example/vendor.json')).rejects.toThrow(/too many/);
    expect(network.fetched).toHaveLength(32);
    // The same document asked for again joins the fetch in flight, limits or not.
    const joined = registry.get('https://victim.example/0');
    network.releaseAll();
    await Promise.all([...sameHost, ...others, joined]);
    // Done, the places are free again.
    await registry.get('https://victim.example/4');
    expect(network.fetched).toHaveLength(33);
  });

  it('still refreshes a vendor it knows while strangers fill the caps', async () => {
    const network = fakeNetwork();
    const clock = testClock();
    const registry = new VendorRegistry(network.fetchJson, clock, false);
    const known = 'https://shop.example/vendor.json';
    await registry.get(known);
    clock.advance(10 * 60 * 1000); // its document is stale now
    network.hold();
    const strangers = Array.from({ length: 32 }, (_, i) =>
      registry.get(`https://s${i}.attacker.example/vendor.json`),
    );
    await expect(registry.get('https://s99.attacker.example/vendor.json')).rejects.toThrow(
      /too many/,
    );
    const refreshed = registry.get(known);
    network.releaseAll();
    await expect(refreshed).resolves.toMatchObject({ vendor_id: known });
    await Promise.all(strangers);
  });

  it("keeps the documents of vendors that authenticated whatever strangers' documents fill the cache", async () => {
    const network = fakeNetwork();
    const registry = new VendorRegistry(network.fetchJson, testClock(), false);
    const known = 'https://shop.example/vendor.json';
    registry.confirm(known, await registry.get(known));
    const unconfirmed = 'https://unconfirmed.example/vendor.json';
    await registry.get(unconfirmed);
    // 10,000 strangers' ids: one wildcard DNS name is enough.
    for (let batch = 0; batch < 400; batch++) {
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          registry.get(`https://h${i}.attacker.example/v.json?n=${batch}`),
        ),
      );
    }
    // Strangers hold every fetch place with slow documents.
    network.hold();
    const held = Array.from({ length: 32 }, (_, i) =>
      registry.get(`https://slow${i}.attacker.example/v.json`),
    );
    const fetchedBefore = network.fetched.length;
    await expect(registry.get(known)).resolves.toMatchObject({ vendor_id: known });
    expect(network.fetched).toHaveLength(fetchedBefore);
    // A document nobody signed with was pushed out like the strangers' own.
    await expect(registry.get(unconfirmed)).rejects.toThrow(/too many/);
    network.releaseAll();
    await Promise.all(held);
  });

  it('confirms only the document the assertion verified with', async () => {
    const network = fakeNetwork();
    const clock = testClock();
    const registry = new VendorRegistry(network.fetchJson, clock, false);
    const id = 'https://shop.example/vendor.json';
    const first = await registry.get(id);
    clock.advance(10 * 60 * 1000);
    await registry.get(id); // a newer document replaced it meanwhile
    registry.confirm(id, first);
    for (let i = 0; i < 10_000; i++) await registry.get(`https://h${i % 25}.attacker.example/${i}`);
    network.hold();
    const held = Array.from({ length: 32 }, (_, i) =>
      registry.get(`https://slow${i}.attacker.example/v.json`),
    );
    await expect(registry.get(id)).rejects.toThrow(/too many/);
    network.releaseAll();
    await Promise.all(held);
  });

  it('holds a vendor some customer has a grant with to no fetch cap, asking only when they are full', async () => {
    const network = fakeNetwork();
    const asked: string[] = [];
    const related = 'https://dealer.example/vendor.json';
    const registry = new VendorRegistry(network.fetchJson, testClock(), false, async (id) => {
      asked.push(id);
      return id === related;
    });
    await registry.get('https://calm.example/vendor.json');
    expect(asked).toEqual([]);
    network.hold();
    const held = Array.from({ length: 32 }, (_, i) =>
      registry.get(`https://slow${i}.attacker.example/v.json`),
    );
    await expect(registry.get('https://stranger.example/vendor.json')).rejects.toThrow(/too many/);
    const fetching = registry.get(related);
    const joined = registry.get(related);
    network.releaseAll();
    await expect(fetching).resolves.toMatchObject({ vendor_id: related });
    await expect(joined).resolves.toMatchObject({ vendor_id: related });
    expect(network.fetched.filter((url) => url === related)).toHaveLength(1);
    expect(asked).toEqual(['https://stranger.example/vendor.json', related, related]);
    await Promise.all(held);
  });
});
