// The linear-time regex wrapper (src/config/linear-regex.ts) that regexes from configuration use:
// RE2 syntax, RegExp-like `test`, whole-value `matchesWhole`, and one-line reasons for what RE2 refuses.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LinearRegex, LinearRegexError } from '../../src/config/linear-regex.ts';

describe('LinearRegex', () => {
  test('test() finds a match anywhere, matchesWhole() needs the whole value', () => {
    const re = LinearRegex.compile('[a-z]+\\d');
    assert.equal(re.source, '[a-z]+\\d');
    assert.equal(re.test('--abc1--'), true);
    assert.equal(re.matchesWhole('--abc1--'), false);
    assert.equal(re.matchesWhole('abc1'), true);
    assert.equal(LinearRegex.compile('^a|b$').matchesWhole('b'), true);
  });

  test('RE2 syntax that JavaScript lacks is accepted', () => {
    assert.equal(LinearRegex.compile('(?i)^ABC\\z').test('abc'), true);
    assert.equal(LinearRegex.compile('(?P<word>\\pL+)').matchesWhole('héllo'), true);
  });

  test('nested repetition stays linear on a hostile input', () => {
    const re = LinearRegex.compile('^https://(.*\\.)*example\\.com$');
    // A backtracking engine takes about 2^56 steps here; this returns at once.
    assert.equal(re.matchesWhole(`https://${'a.'.repeat(56)}x`), false);
    assert.equal(re.matchesWhole('https://a.b.example.com'), true);
  });

  test('what RE2 cannot take is refused with a one-line reason', () => {
    const cases: [string, RegExp][] = [
      ['(a)\\1', /invalid escape sequence: `\\1` \(backreferences are not supported/],
      ['a(?=b)', /unsupported Perl syntax: `\(\?=` \(lookahead and lookbehind are not supported/],
      ['(?<!a)b', /\(lookahead and lookbehind are not supported/],
      ['a++', /nested repetition operator: `\+\+` \(possessive quantifiers are not supported/],
      ['[z-a]', /invalid character class range/],
      ['(', /missing closing \)/],
    ];
    for (const [src, why] of cases) {
      assert.throws(() => LinearRegex.compile(src), (e: unknown) => e instanceof LinearRegexError && why.test(e.message) && !e.message.includes('\n'), src);
      assert.match(LinearRegex.problem(src) ?? '', why);
    }
    assert.equal(LinearRegex.problem('a|b'), undefined);
  });

  test('maxProgramSize refuses patterns whose RE2 program is larger', () => {
    assert.equal(LinearRegex.problem('(a|b){600}'), undefined);
    assert.match(LinearRegex.problem('(a|b){600}', { maxProgramSize: 1000 }) ?? '', /^regex program size \(\d+\) is larger than the maximum of 1000$/);
    assert.equal(LinearRegex.problem('^https://(.*\\.)*example\\.com$', { maxProgramSize: 1000 }), undefined);
  });
});
