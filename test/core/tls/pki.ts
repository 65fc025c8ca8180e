// The certificates the TLS tests share, issued by the harness's test CA.
import { TestCa, type Issued } from '../../../sdk/testing/certificates.ts';

export { TestCa, type Issued, type CertificateSpec } from '../../../sdk/testing/certificates.ts';

export interface TestPki {
  ca: TestCa;
  /** a.test and *.b.test */
  ab: Issued;
  /** c.test */
  c: Issued;
  /** 127.0.0.1 (IP SAN), for origins */
  origin: Issued;
  /** A client certificate, CN=alice */
  client: Issued;
}

let made: TestPki | undefined;

/** The certificates the TLS tests share, made once per test file. */
export function testPki(): TestPki {
  if (made) return made;
  const ca = new TestCa('tapgate test CA');
  made = {
    ca,
    ab: ca.issue({ cn: 'a.test', dns: ['a.test', '*.b.test'] }),
    c: ca.issue({ cn: 'c.test', dns: ['c.test'] }),
    origin: ca.issue({ cn: 'origin', ips: ['127.0.0.1'] }),
    client: ca.issue({ cn: 'alice', client: true }),
  };
  return made;
}
