import { describe, expect, it } from '@jest/globals';
import { checkWebhookUrl, isPrivateAddress } from '../../../core/webhooks/webhook-url.js';
import { signatureHeader, verifySignature } from '../../../core/webhooks/signature.js';

const strict = { allowPrivate: false };

describe('checkWebhookUrl (submit time)', () => {
  it('takes public http(s) URLs, normalized', () => {
    expect(checkWebhookUrl('https://example.com/hooks/jobs', strict)).toBe('https://example.com/hooks/jobs');
    expect(checkWebhookUrl(' HTTP://Example.COM:8443/a?b=1#frag', strict)).toBe(
      'http://example.com:8443/a?b=1',
    );
    expect(checkWebhookUrl('https://93.184.216.34/x', strict)).toBe('https://93.184.216.34/x');
    expect(checkWebhookUrl('https://[2606:2800:220:1::]/x', strict)).toBe('https://[2606:2800:220:1::]/x');
  });

  it.each([
    ['ftp://example.com/x', /must use http or https, not ftp/],
    ['file:///etc/passwd', /must use http or https/],
    ['javascript:alert(1)', /must use http or https/],
    ['example.com/hook', /is not a URL/],
    ['', /must be an http\(s\) URL/],
    ['https://user:pw@example.com/', /must not carry a user name or password/],
  ])('refuses %s', (url, message) => {
    expect(() => checkWebhookUrl(url, strict)).toThrow(message);
  });

  it('refuses a URL longer than 2048 characters', () => {
    expect(() => checkWebhookUrl(`https://example.com/${'a'.repeat(2048)}`, strict)).toThrow(
      /at most 2048 characters/,
    );
  });

  it.each([
    'http://127.0.0.1/',
    'http://127.1.2.3:8080/',
    'http://2130706433/', // 127.0.0.1 in decimal: the URL parser reads it as such
    'http://0x7f.0.0.1/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://10.0.0.5/',
    'http://172.16.3.4/',
    'http://192.168.1.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00:ec2::254]/',
    'http://[fe80::1]/',
    'http://100.64.0.1/',
    'http://0.0.0.0/',
    'http://localhost:3000/',
    'http://api.localhost/',
    'http://metadata.google.internal/',
  ])('refuses the private, loopback or metadata address of %s, unless allowed', (url) => {
    expect(() => checkWebhookUrl(url, strict)).toThrow(/private, loopback or link-local address/);
    expect(checkWebhookUrl(url, { allowPrivate: true })).toMatch(/^http:\/\//);
  });

  it('names the field it checks', () => {
    expect(() => checkWebhookUrl('ftp://x', { allowPrivate: false, field: 'url' })).toThrow(/^url must use/);
  });
});

describe('isPrivateAddress (delivery time, after DNS)', () => {
  it('tells private from public addresses', () => {
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '169.254.169.254',
      '::1',
      '::ffff:10.0.0.1',
      '::ffff:7f00:1',
      'fc00::1',
    ])
      expect([ip, isPrivateAddress(ip)]).toEqual([ip, true]);
    for (const ip of ['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect([ip, isPrivateAddress(ip)]).toEqual([ip, false]);
    expect(isPrivateAddress('not-an-ip')).toBe(true);
  });
});

describe('signatures', () => {
  const body = '{"id":"x","status":"COMPLETED"}';
  it('verify with the secret, within the tolerance, and with either of two secrets', () => {
    const header = signatureHeader(['whsec_new', 'whsec_old'], 1_700_000_000, body);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    const at = { nowSeconds: 1_700_000_100 };
    expect(verifySignature('whsec_new', header, body, at)).toBe(true);
    expect(verifySignature('whsec_old', header, body, at)).toBe(true);
    expect(verifySignature('whsec_other', header, body, at)).toBe(false);
    expect(verifySignature('whsec_new', header, body + ' ', at)).toBe(false);
    // Too old (a replay): outside the 5-minute tolerance.
    expect(verifySignature('whsec_new', header, body, { nowSeconds: 1_700_000_301 })).toBe(false);
    expect(verifySignature('whsec_new', 'v1=abc', body, at)).toBe(false);
  });
});
