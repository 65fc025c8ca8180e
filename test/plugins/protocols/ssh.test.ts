import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectSsh } from '../../../plugins/protocols/ssh.ts';
import { bytes, guarded } from './fixtures.ts';

const detect = (s: string) => detectSsh(guarded(bytes(s)));

describe('SSH banner detector', () => {
  it('gives the software of a real OpenSSH banner, without its comments', () => {
    assert.deepEqual(detect('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n'), { protocol: 'ssh', software: 'OpenSSH_9.6p1', version: 'SSH-2.0' });
  });

  it('recognises other clients, SSH-1.99 and a banner followed by the key exchange', () => {
    assert.equal((detect('SSH-2.0-PuTTY_Release_0.80\r\n') as { software: string }).software, 'PuTTY_Release_0.80');
    assert.equal((detect('SSH-2.0-JSCH-0.1.54\r\n') as { software: string }).software, 'JSCH-0.1.54');
    assert.deepEqual(detect('SSH-1.99-OpenSSH_3.9p1\r\n'), { protocol: 'ssh', software: 'OpenSSH_3.9p1', version: 'SSH-1.99' });
    assert.equal((detect('SSH-2.0-Go\r\n\x00\x00\x05\xdc\x07\x14') as { software: string }).software, 'Go');
    assert.equal((detect('SSH-2.0-dropbear_2022.83\n') as { software: string }).software, 'dropbear_2022.83', 'a bare LF (RFC 4253 §4.2)');
  });

  it('answers more for every prefix, fed byte by byte, until the line ends', () => {
    const banner = 'SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n';
    for (let k = 0; k < banner.length; k++) assert.equal(detect(banner.slice(0, k)), 'more', JSON.stringify(banner.slice(0, k)));
    assert.equal(detect('SSH-1.9'), 'more');
  });

  it('holds to 255 bytes for the whole line, CR LF included', () => {
    const line = (length: number) => `SSH-2.0-x ${'c'.repeat(length - 12)}\r\n`;
    assert.equal(line(255).length, 255);
    assert.equal((detect(line(255)) as { software: string }).software, 'x');
    assert.equal(detect(line(256)), undefined);
    assert.equal(detect(`SSH-2.0-${'y'.repeat(300)}`), undefined, 'no line end within 255 bytes');
    assert.equal(detect(`SSH-2.0-${'y'.repeat(200)}`), 'more');
  });

  it('turns down other versions, an empty software version and broken lines', () => {
    for (const s of [
      'SSH-1.5-OpenSSH_1\r\n',
      'SSH-3.0-x\r\n',
      'SSH-2.0-\r\n',
      'SSH-2.0- comment\r\n',
      'SSH-2.0-x\rY',
      'SSH-2.0-x y\x00z\r\n',
      'SSH-2.0-caf\u00e9\r\n',
      'ssh-2.0-x\r\n',
      'GET / HTTP/1.1\r\n',
      '\x16\x03\x01\x02\x00',
    ]) {
      assert.equal(detect(s), undefined, JSON.stringify(s));
    }
  });
});
