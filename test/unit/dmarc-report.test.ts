import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DMARC_LIMITS,
  DmarcReportError,
  parseDmarcAttachment,
  parseDmarcXml,
  type DmarcReport,
} from '../../server/domains/dmarc-report.js';
import {
  GOOGLE_XML,
  YAHOO_XML,
  deepXml,
  entityBombXml,
  googleReport,
  gzipBomb,
  largeZip,
  lyingSizeZip,
  manyEntriesZip,
  manyRecordsXml,
  microsoftReport,
  microsoftXml,
  nestedZip,
  quirkyReporterXml,
  xxeXml,
  yahooReport,
  zip,
  zipSlip,
  type Attachment,
} from '../fixtures/dmarc.js';

const MiB = 1024 * 1024;

async function reasonOf(run: () => Promise<unknown> | unknown): Promise<string> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(DmarcReportError);
    return (err as DmarcReportError).reason;
  }
  throw new Error('expected a DmarcReportError');
}

const rejectAttachment = (attachment: Attachment): Promise<string> =>
  reasonOf(() => parseDmarcAttachment(attachment));

const asZip = (content: Buffer): Attachment => ({
  filename: 'report.zip',
  contentType: 'application/zip',
  content,
});

const GOOGLE: DmarcReport = {
  reporter_org: 'google.com',
  reporter_email: 'noreply-dmarc-support@google.com',
  report_id: '5717107811868587391',
  date_begin: '2023-11-14T22:13:20Z',
  date_end: '2023-11-15T22:13:19Z',
  domain: 'example.com',
  policy: { p: 'none', sp: 'none', pct: 100, adkim: 'r', aspf: 'r' },
  records: [
    {
      source_ip: '209.85.220.41',
      count: 12,
      disposition: 'none',
      dkim: 'pass',
      spf: 'pass',
      header_from: 'example.com',
      envelope_from: null,
      dkim_domains: [
        { domain: 'example.com', result: 'pass', selector: 'google' },
        { domain: 'example-com.20230601.gappssmtp.com', result: 'pass', selector: '20230601' },
      ],
      spf_domains: [{ domain: 'example.com', result: 'pass' }],
    },
    {
      source_ip: '203.0.113.7',
      count: 3,
      disposition: 'none',
      dkim: 'fail',
      spf: 'fail',
      header_from: 'example.com',
      envelope_from: null,
      dkim_domains: [],
      spf_domains: [{ domain: 'spoofer.example.net', result: 'softfail' }],
    },
  ],
};

const MICROSOFT: DmarcReport = {
  reporter_org: 'Enterprise Outlook',
  reporter_email: 'dmarcreport@microsoft.com',
  report_id: '0b3a5d0e2c1a4f6e9d8c7b6a5f4e3d2c',
  date_begin: '2023-11-15T00:00:00Z',
  date_end: '2023-11-16T00:00:00Z',
  domain: 'example.com',
  policy: { p: 'quarantine', sp: 'reject', pct: 50, adkim: 's', aspf: 'r' },
  records: [
    {
      source_ip: '2a01:111:f403:2c0e::700',
      count: 1,
      disposition: 'quarantine',
      dkim: 'fail',
      spf: 'fail',
      header_from: 'example.com',
      envelope_from: 'bounce.example.com',
      dkim_domains: [{ domain: 'example.com', result: 'fail', selector: 'selector1' }],
      spf_domains: [{ domain: 'bounce.example.com', result: 'fail' }],
    },
  ],
};

const YAHOO: DmarcReport = {
  reporter_org: 'Yahoo',
  reporter_email: 'dmarchelp@yahooinc.com',
  report_id: '1700000000.861327',
  date_begin: '2023-11-14T00:00:00Z',
  date_end: '2023-11-14T23:59:59Z',
  domain: 'example.com',
  policy: { p: 'reject', sp: null, pct: 100, adkim: 'r', aspf: 'r' },
  records: [
    {
      source_ip: '198.51.100.25',
      count: 1,
      disposition: 'none',
      dkim: 'pass',
      spf: 'pass',
      header_from: 'example.com',
      envelope_from: null,
      dkim_domains: [{ domain: 'example.com', result: 'pass', selector: 's2048' }],
      spf_domains: [{ domain: 'example.com', result: 'pass' }],
    },
  ],
};

describe('provider reports', () => {
  it('reads a Google zip with several records and DKIM and SPF results', async () => {
    const attachment = googleReport();
    expect(attachment.filename).toBe('google.com!example.com!1700000000!1700086399.zip');
    expect(await parseDmarcAttachment(attachment)).toEqual([GOOGLE]);
  });

  it('reads a Microsoft gzip with a <version> element, with and without the dmarc-2.0 namespace', async () => {
    expect(await parseDmarcAttachment(microsoftReport())).toEqual([MICROSOFT]);
    expect(await parseDmarcAttachment(microsoftReport({ namespace: true }))).toEqual([MICROSOFT]);
  });

  it('reads a namespace-prefixed document the same as an unprefixed one', async () => {
    const prefixed = microsoftXml()
      .replace(/<(\/?)(?!\?)/g, '<$1dmarc:')
      .replace('<dmarc:feedback', '<dmarc:feedback xmlns:dmarc="urn:ietf:params:xml:ns:dmarc-2.0"');
    expect(await parseDmarcXml(prefixed)).toEqual(MICROSOFT);
  });

  it('reads a Yahoo report whose single record and results are objects, not arrays', async () => {
    expect(await parseDmarcAttachment(yahooReport())).toEqual([YAHOO]);
  });

  it('reads every .xml entry of a zip and skips directories and other files', async () => {
    const content = zip([
      { name: 'reports/', data: Buffer.alloc(0), method: 0 },
      { name: 'reports/README.txt', data: Buffer.from('not a report') },
      { name: 'reports/google.xml', data: Buffer.from(GOOGLE_XML) },
      { name: 'reports/YAHOO.XML', data: Buffer.from(YAHOO_XML), method: 0 },
    ]);
    expect(await parseDmarcAttachment(asZip(content))).toEqual([GOOGLE, YAHOO]);
  });
});

describe('format detection', () => {
  it('reads plain XML', async () => {
    const attachment = { filename: 'report.xml', contentType: 'text/xml', content: Buffer.from(YAHOO_XML) };
    expect(await parseDmarcAttachment(attachment)).toEqual([YAHOO]);
  });

  it('sniffs zip, gzip and XML sent as application/octet-stream without a name', async () => {
    const octet = (content: Buffer): Attachment => ({
      filename: null,
      contentType: 'application/octet-stream',
      content,
    });
    expect(await parseDmarcAttachment(octet(googleReport().content))).toEqual([GOOGLE]);
    expect(await parseDmarcAttachment(octet(yahooReport().content))).toEqual([YAHOO]);
    expect(await parseDmarcAttachment(octet(Buffer.from(`\uFEFF\n  ${YAHOO_XML}`)))).toEqual([YAHOO]);
  });

  it('believes the bytes over a lying content type or name', async () => {
    const gzipLabelledZip = {
      filename: 'report.zip',
      contentType: 'application/zip',
      content: yahooReport().content,
    };
    expect(await parseDmarcAttachment(gzipLabelledZip)).toEqual([YAHOO]);
  });

  it('calls a labelled report that is none of the formats malformed, anything else unsupported', async () => {
    const junk = Buffer.from('%PDF-1.7 not a report');
    expect(
      await rejectAttachment({
        filename: 'report.xml.gz',
        contentType: 'application/octet-stream',
        content: junk,
      }),
    ).toBe('malformed');
    expect(
      await rejectAttachment({ filename: 'invoice.pdf', contentType: 'application/pdf', content: junk }),
    ).toBe('unsupported');
  });

  it('refuses an attachment over the compressed size cap before reading it', async () => {
    const content = Buffer.alloc(DEFAULT_DMARC_LIMITS.maxCompressedBytes + 1);
    expect(await rejectAttachment({ filename: 'report.xml', contentType: 'text/xml', content })).toBe(
      'too_large',
    );
  });
});

describe('hostile archives', () => {
  it('stops a 512 MiB gzip bomb at the inflation cap with bounded memory', async () => {
    const bomb = await gzipBomb(512);
    expect(bomb.length).toBeLessThan(DEFAULT_DMARC_LIMITS.maxCompressedBytes);
    const before = process.memoryUsage().rss;
    const reason = await rejectAttachment({
      filename: 'bomb.xml.gz',
      contentType: 'application/gzip',
      content: bomb,
    });
    const growth = process.memoryUsage().rss - before;
    expect(reason).toBe('bomb');
    expect(growth).toBeLessThan(200 * MiB);
  });

  it('refuses a zip entry that inflates past the size its headers declare', async () => {
    expect(await rejectAttachment(asZip(lyingSizeZip(32, 1024)))).toBe('bomb');
  });

  it('counts real inflated bytes, summed over entries, against the cap', async () => {
    expect(await rejectAttachment(asZip(largeZip(1, 32)))).toBe('bomb');
    expect(await rejectAttachment(asZip(largeZip(2, 12)))).toBe('bomb');
  });

  it('refuses a zip with 10 000 entries', async () => {
    const content = manyEntriesZip(10_000);
    expect(content.length).toBeLessThan(DEFAULT_DMARC_LIMITS.maxCompressedBytes);
    expect(await rejectAttachment(asZip(content))).toBe('too_many_entries');
  });

  it.each(['../evil.xml', 'reports/../../evil.xml', '/etc/evil.xml', 'C:/evil.xml', 'reports\\evil.xml'])(
    'refuses the entry name %s',
    async (name) => {
      expect(await rejectAttachment(asZip(zipSlip(name)))).toBe('zip_slip');
    },
  );

  it('does not open a zip nested in a zip', async () => {
    expect(await rejectAttachment(asZip(nestedZip()))).toBe('unsupported');
  });

  it('answers every corrupted byte of a zip or gzip with a report or a DmarcReportError', async () => {
    // A fixed linear congruential sequence, so a failure names the same corruption on every run.
    let seed = 7;
    const next = (bound: number): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % bound;
    for (const original of [googleReport(), yahooReport()]) {
      for (let i = 0; i < 200; i++) {
        const content = Buffer.from(original.content);
        content[next(content.length)] = next(256);
        await parseDmarcAttachment({ ...original, content }).catch((err: unknown) => {
          expect(err).toBeInstanceOf(DmarcReportError);
        });
      }
    }
  });

  it('calls a truncated zip or gzip malformed', async () => {
    const zipped = googleReport().content;
    const gzipped = yahooReport().content;
    expect(await rejectAttachment(asZip(zipped.subarray(0, zipped.length - 30)))).toBe('malformed');
    const truncatedGzip = {
      filename: 'r.xml.gz',
      contentType: 'application/gzip',
      content: gzipped.subarray(0, 40),
    };
    expect(await rejectAttachment(truncatedGzip)).toBe('malformed');
  });
});

describe('hostile XML', () => {
  it('refuses entity expansion and external entities without processing them', async () => {
    expect(await reasonOf(() => parseDmarcXml(entityBombXml()))).toBe('unsupported');
    expect(await reasonOf(() => parseDmarcXml(xxeXml()))).toBe('unsupported');
    const gzipped = {
      filename: 'r.xml.gz',
      contentType: 'application/gzip',
      content: zlib.gzipSync(xxeXml()),
    };
    expect(await rejectAttachment(gzipped)).toBe('unsupported');
  });

  it('leaves undeclared entity references as text', async () => {
    const xml = YAHOO_XML.replace(
      '<org_name>Yahoo</org_name>',
      '<org_name>AT&amp;T &#x59;&#97; &lol;</org_name>',
    );
    expect((await parseDmarcXml(xml)).reporter_org).toBe('AT&T Ya &lol;');
  });

  it('refuses XML nested 200 deep', async () => {
    expect(await reasonOf(() => parseDmarcXml(deepXml(200)))).toBe('too_deep');
    const limits = { ...DEFAULT_DMARC_LIMITS, maxXmlDepth: 5 };
    expect(await parseDmarcXml(GOOGLE_XML, limits)).toEqual(GOOGLE);
    expect(await reasonOf(() => parseDmarcXml(GOOGLE_XML, { ...limits, maxXmlDepth: 4 }))).toBe('too_deep');
  });

  // A parse of 20 000 records takes about a second; the timeout only allows for a loaded machine.
  it('reads a gzipped report with 20 000 records, as the largest reporters send, within the default caps', async () => {
    const xml = manyRecordsXml(20_000);
    const [report] = await parseDmarcAttachment({
      filename: 'r.xml.gz',
      contentType: 'application/gzip',
      content: zlib.gzipSync(xml),
    });
    expect(report?.records).toHaveLength(20_000);
    expect(report?.records[19_999]).toMatchObject({ source_ip: '10.0.78.31', count: 1 });
    // The record cap still holds, and the inflate cap still bounds the memory one report takes.
    expect(await reasonOf(() => parseDmarcXml(xml, { ...DEFAULT_DMARC_LIMITS, maxRecords: 19_999 }))).toBe(
      'too_many_records',
    );
    expect(DEFAULT_DMARC_LIMITS.maxInflatedBytes).toBe(20 * MiB);
  }, 60_000);

  it('reads empty optional elements as absent, as real reporters write them', async () => {
    const report = await parseDmarcXml(quirkyReporterXml());
    expect(report.reporter_org).toBe('reports.example.net');
    expect(report.records).toHaveLength(2);
    expect(report.records[0]).toMatchObject({
      envelope_from: null,
      dkim_domains: [{ domain: null, result: 'none', selector: null }],
      spf_domains: [{ domain: null, result: 'none' }],
    });
    expect(report.records[1]).toMatchObject({
      dkim_domains: [],
      spf_domains: [{ domain: 'example.com', result: 'pass' }],
    });
    const anonymous = quirkyReporterXml().replace('<email>dmarc@Reports.Example.NET</email>', '<email/>');
    expect((await parseDmarcXml(anonymous)).reporter_org).toBe('');
  });

  it.each([
    [
      'an empty report_id',
      GOOGLE_XML.replace('5717107811868587391', ''),
      'required:report_metadata.report_id',
    ],
    ['a non-IP source', GOOGLE_XML.replace('209.85.220.41', 'mail.example.com'), 'ip:row.source_ip'],
    ['a fractional count', GOOGLE_XML.replace('<count>12</count>', '<count>1.5</count>'), 'integer:count'],
    ['mismatched tags', '<feedback><a></b></feedback>', 'xml_syntax'],
    [
      'no policy_published',
      GOOGLE_XML.replace(/<policy_published>[\s\S]*<\/policy_published>/, ''),
      'required:feedback.policy_published',
    ],
  ])('names the rule that refused %s', async (_label, xml, rule) => {
    try {
      await parseDmarcXml(xml);
    } catch (err) {
      expect(err).toBeInstanceOf(DmarcReportError);
      expect((err as DmarcReportError).rule).toBe(rule);
      return;
    }
    throw new Error('expected a DmarcReportError');
  });

  it('refuses XML over the inflated size cap', async () => {
    const limits = { ...DEFAULT_DMARC_LIMITS, maxInflatedBytes: 1024 };
    expect(await reasonOf(() => parseDmarcXml(GOOGLE_XML, limits))).toBe('too_large');
  });

  it.each([
    ['missing report_id', GOOGLE_XML.replace('<report_id>5717107811868587391</report_id>', '')],
    ['missing policy domain', GOOGLE_XML.replace('<domain>example.com</domain>\n    <adkim>', '<adkim>')],
    ['missing count', GOOGLE_XML.replace('<count>12</count>', '')],
    ['fractional count', GOOGLE_XML.replace('<count>12</count>', '<count>1.5</count>')],
    ['non-IP source', GOOGLE_XML.replace('209.85.220.41', 'mail.example.com')],
    ['non-numeric date', GOOGLE_XML.replace('<begin>1700000000</begin>', '<begin>yesterday</begin>')],
    ['duplicated scalar', GOOGLE_XML.replace('<p>none</p>', '<p>none</p><p>reject</p>')],
    ['other root', '<report><feedback/></report>'],
    ['unclosed element', GOOGLE_XML.replace('</feedback>', '')],
    ['mismatched tags', '<feedback><a></b></feedback>'],
    ['two roots', `${YAHOO_XML}<feedback/>`],
    ['reserved name', YAHOO_XML.replace('<record>', '<record><__proto__>x</__proto__>')],
    ['no element', 'just text'],
  ])('calls a report with %s malformed', async (_label, xml) => {
    expect(await reasonOf(() => parseDmarcXml(xml))).toBe('malformed');
  });

  it('accepts a record with no auth_results as having no results', async () => {
    const xml = YAHOO_XML.replace(/<auth_results>[\s\S]*<\/auth_results>/, '');
    expect((await parseDmarcXml(xml)).records[0]).toMatchObject({ dkim_domains: [], spf_domains: [] });
  });
});
