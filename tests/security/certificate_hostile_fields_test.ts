/**
 * Attack: certificates whose subject, serial or validity hold what a hostile
 * or careless issuer writes — RFC 2253 specials inside values, an embedded
 * NUL, control characters, T61/BMP strings, bytes that are not UTF-8, huge
 * and empty names, negative and 40-byte serials, times before 1950 and after
 * 2049 down to year 1. Each field must come out unambiguous and exact, or as
 * a typed error; never truncated, never garbage, never a wrong date.
 *
 * Fixtures: tests/fixtures/names/ (scripts/gen_name_corpus.sh).
 */
import assert from "node:assert/strict";
import { UnableToReadCertificateError, X509Certificate } from "../../mod.ts";
import { fixture } from "../helpers.ts";

const cert = (file: string) => X509Certificate.fromPEM(fixture(`names/${file}`));

Deno.test("hostile fields: RFC 2253 specials, a multi-valued RDN, leading '#' and spaces stay escaped", () => {
  assert.equal(
    cert("name-escapes.pem").subject,
    'street=trail\\ ,ST=\\ lead,L=\\#hash,OU=quote\\"semi\\;less\\<more\\>back\\\\slash,CN=plus\\+sign+OU=a=b,' +
      "O=Comma\\, Inc.,C=US",
  );
});

Deno.test("hostile fields: an embedded NUL in the subject is escaped, never a truncation point", () => {
  const subject = cert("name-nul.pem").subject;
  assert.equal(subject, "CN=www.example.test\\00.evil.test");
  assert.ok(!subject.includes("\0"));
});

Deno.test("hostile fields: control characters in a name are escaped as \\XX", () => {
  assert.equal(cert("name-control.pem").subject, "CN=ctl\\01one\\1Besc\\7Fdel");
});

Deno.test("hostile fields: T61String, BMPString and UTF8String names decode to the same text", () => {
  assert.equal(cert("name-strings.pem").subject, "L=plain,OU=smile \u{1F600},O=\u20ac euro,CN=caf\u00e9");
  assert.equal(cert("name-utf8.pem").subject, "CN=\u202eevil\u202c \u{1F600} caf\u00e9");
});

Deno.test("hostile fields: a UTF8String that is not UTF-8, a BMPString with a lone surrogate: typed error or exact text", () => {
  for (const file of ["name-bad-utf8.pem", "name-bmp-surrogate.pem"]) {
    let subject: string;
    try {
      subject = cert(file).subject;
    } catch (error) {
      // OpenSSL 3.0 refuses both certificates outright.
      assert.ok(error instanceof UnableToReadCertificateError, `${file}: ${error}`);
      continue;
    }
    // Should a later OpenSSL accept them, the text must not have been replaced.
    assert.ok(!subject.includes("\ufffd"), `${file}: ${subject}`);
  }
});

Deno.test("hostile fields: an empty subject and a 20000-byte attribute", () => {
  assert.equal(cert("name-empty.pem").subject, "");
  assert.equal(cert("name-huge.pem").subject, `CN=huge,description=${"h".repeat(20000)}`);
});

Deno.test("hostile fields: negative, zero, 40-byte and high-bit serials", () => {
  assert.equal(cert("serial-negative.pem").serialNumber, "-0102");
  assert.equal(cert("serial-zero.pem").serialNumber, "0");
  assert.equal(cert("serial-40-bytes.pem").serialNumber, "7F" + "5A".repeat(39));
  assert.equal(cert("serial-high-bit.pem").serialNumber, "80");
});

Deno.test("hostile fields: UTCTime bounds, GeneralizedTime after 2049, before 1950 and in years 1..99", () => {
  const dates = (file: string) => {
    const c = cert(file);
    return [c.notBefore.toISOString(), c.notAfter.toISOString()];
  };
  assert.deepEqual(dates("time-utc-bounds.pem"), ["1950-01-01T00:00:00.000Z", "2049-12-31T23:59:59.000Z"]);
  assert.deepEqual(dates("time-generalized-2050.pem"), ["2049-12-31T23:59:59.000Z", "2050-01-01T00:00:00.000Z"]);
  assert.deepEqual(dates("time-before-1950.pem"), ["1949-12-31T23:59:59.000Z", "9999-12-31T23:59:59.000Z"]);
  // Date.UTC would have read years 1 and 99 as 1901 and 1999: a certificate
  // that expired 1900 years ago would look valid to anyone comparing dates.
  assert.deepEqual(dates("time-year-0001.pem"), ["0001-01-01T00:00:00.000Z", "0099-12-31T23:59:59.000Z"]);
});

Deno.test("hostile fields: a version 1 certificate with no extensions has every field", () => {
  const c = cert("v1-no-extensions.pem");
  assert.equal(c.subject, "CN=v1");
  assert.equal(c.serialNumber, "07");
  assert.deepEqual(c.subjectAltNames, []);
  assert.ok(c.notBefore < c.notAfter);
});
