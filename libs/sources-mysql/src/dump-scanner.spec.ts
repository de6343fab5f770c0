import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DumpScanner, type DumpScan } from './dump-scanner';

function scanChunks(chunks: Buffer[]): DumpScan {
  const scanner = new DumpScanner();
  for (const chunk of chunks) scanner.push(chunk);
  return scanner.end();
}

/** Scans whole, byte by byte, and split at every position: the result must not depend on chunking. */
function scan(text: string | Buffer): DumpScan {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const whole = scanChunks([bytes]);
  const single = scanChunks([...bytes].map((b) => Buffer.from([b])));
  assert.deepEqual(single, whole, 'byte-by-byte chunks');
  for (let at = 1; at < bytes.length; at++) {
    assert.deepEqual(scanChunks([bytes.subarray(0, at), bytes.subarray(at)]), whole, `split at ${at}`);
  }
  return whole;
}

const HEADER =
  '/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n--\n';
const FOOTER = '/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n\n-- Dump completed on 2026-11-22  2:54:52\n';

describe('DumpScanner', () => {
  test('counts the tuples of extended INSERTs, including one-per-line rows, and reads the frame', () => {
    const result = scan(
      HEADER +
        '/*!40101 SET NAMES utf8mb4 */;\n' +
        'CREATE TABLE `a` (\n  `id` int(11) NOT NULL,\n  `s` text,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n' +
        "INSERT INTO `a` VALUES (1,'x'),(2,NULL),(3,'y');\n" +
        "INSERT INTO `a` VALUES\n(4,'z'),\n(5,NULL);\n" +
        FOOTER,
    );
    assert.deepEqual(result, {
      tables: [{ name: 'a', rows: 5 }],
      createTables: 1,
      header: '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB',
      completed: true,
      endedCleanly: true,
    });
  });

  test('quotes, backslashes, parentheses and delimiters inside strings are data', () => {
    const strings = [
      "'it\\'s'",
      "'a\\\\'",
      "'\\\\'",
      "'(a),(b)'",
      "'),('",
      "'x'',''y'",
      "'\");'",
      "'-- not a comment'",
      "'/* not a comment */'",
      "'# not a comment'",
      "';'",
      "'DELIMITER ;;'",
      "'\\nINSERT INTO `a` VALUES (9);\\n'",
      "'line one\nline two\n(3),(4);\n'",
      "''",
      "'`'",
      '"double \\" quoted ),( "',
    ];
    const rows = strings.map((s, i) => `(${i},${s},0x00FF28293B27,NULL,-1.5e3)`);
    const result = scan(
      `${HEADER}CREATE TABLE \`t\` (x int);\nINSERT INTO \`t\` VALUES ${rows.join(',')};\n${FOOTER}`,
    );
    assert.deepEqual(result.tables, [{ name: 't', rows: strings.length }]);
    assert.equal(result.completed, true);
  });

  test('multi-byte text and odd table names', () => {
    const result = scan(
      'CREATE TABLE `we``ird (tab)` (x int);\nCREATE TABLE `zäh 📦` (x text);\n' +
        "INSERT INTO `we``ird (tab)` VALUES (1),(2);\nINSERT INTO `zäh 📦` VALUES ('ü 📦 ),('),('b');\n",
    );
    assert.deepEqual(result.tables, [
      { name: 'we`ird (tab)', rows: 2 },
      { name: 'zäh 📦', rows: 2 },
    ]);
  });

  test('binary bytes inside escaped strings do not disturb the count', () => {
    const text = Buffer.concat([
      Buffer.from("CREATE TABLE `b` (x blob);\nINSERT INTO `b` VALUES ('"),
      Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x28, 0x29, 0x2c, 0x5c, 0x27, 0x0a]),
      Buffer.from("'),('"),
      Buffer.from([0xc3, 0x28, 0xa0, 0xa1]),
      Buffer.from("');\n"),
    ]);
    assert.deepEqual(scan(text).tables, [{ name: 'b', rows: 2 }]);
  });

  test('tables without rows appear with 0; views, sequences and view placeholders are not tables', () => {
    const result = scan(
      'CREATE TABLE `empty` (x int);\n' +
        '/*!50001 DROP VIEW IF EXISTS `v`*/;\n' +
        '/*!50001 CREATE TABLE `v` (\n `id` tinyint NOT NULL\n) ENGINE=MyISAM */;\n' +
        '/*!50001 CREATE VIEW `v2` AS SELECT 1 AS `x` */;\n' +
        'CREATE SEQUENCE `s` start with 1 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle ENGINE=InnoDB;\n' +
        'SELECT SETVAL(`s`, 1001, 0);\n' +
        'CREATE OR REPLACE TABLE `db`.`qualified` (x int);\n',
    );
    assert.deepEqual(result.tables, [
      { name: 'empty', rows: 0 },
      { name: 'qualified', rows: 0 },
    ]);
    assert.equal(result.createTables, 2);
  });

  test('INSERTs inside triggers, routines and events are not rows', () => {
    const result = scan(
      'CREATE TABLE `audit` (x int);\nINSERT INTO `audit` VALUES (1);\n' +
        'DELIMITER ;;\n' +
        '/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER t AFTER INSERT ON c FOR EACH ROW\n' +
        'INSERT INTO `audit` VALUES (NEW.id), (2); */;;\n' +
        'DELIMITER ;\n' +
        'DELIMITER ;;\n' +
        'CREATE DEFINER=`root`@`%` PROCEDURE `p`()\nBEGIN\n' +
        'INSERT INTO `audit` VALUES (7),(8);\n' +
        "  SELECT ';;' ;\nEND ;;\n" +
        '/*!50106 CREATE*/ /*!50106 EVENT `ev` ON SCHEDULE EVERY 1 DAY DO INSERT INTO `audit` VALUES (3) */ ;;\n' +
        'DELIMITER ;\n' +
        'INSERT INTO `audit` VALUES (4),(5);\n',
    );
    assert.deepEqual(result.tables, [{ name: 'audit', rows: 3 }]);
    assert.equal(result.endedCleanly, true);
  });

  test('column lists, INSERT IGNORE / REPLACE and ON DUPLICATE KEY UPDATE', () => {
    const result = scan(
      'INSERT INTO `a` (`id`, `v`) VALUES (1,2),(3,4);\n' +
        'INSERT IGNORE INTO `a` VALUES (5,6);\n' +
        'REPLACE INTO `a` VALUES (7,8),(9,10);\n' +
        'INSERT INTO `a` VALUES (11,12),(13,14) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`), `id` = VALUES(`id`);\n' +
        'insert into `a` values(15,16);\n',
    );
    assert.deepEqual(result.tables, [{ name: 'a', rows: 8 }]);
  });

  test('comments between and inside statements', () => {
    const result = scan(
      '-- a comment with INSERT INTO `a` VALUES (1);\n' +
        '# another (1),(2);\n' +
        '/* block INSERT INTO `a` VALUES (1); */\n' +
        'INSERT INTO `a` /* c ) */ VALUES (1), -- trailing ,(2)\n(2);\n',
    );
    assert.deepEqual(result.tables, [{ name: 'a', rows: 2 }]);
  });

  test('a dump cut inside a statement counts only the statements that ended and is not complete', () => {
    const full = `${HEADER}CREATE TABLE \`a\` (x text);\nINSERT INTO \`a\` VALUES (1,'x'),(2,'y');\nINSERT INTO \`a\` VALUES (3,'x'),(4,'y;');\n${FOOTER}`;
    const cut = full.slice(0, full.indexOf("(4,'y;"));
    const result = scan(cut);
    assert.deepEqual(result.tables, [{ name: 'a', rows: 2 }]);
    assert.equal(result.completed, false);
    assert.equal(result.endedCleanly, false);
    const insideString = scan(full.slice(0, full.indexOf("y;')") + 2));
    assert.equal(insideString.endedCleanly, false);
    assert.deepEqual(insideString.tables, [{ name: 'a', rows: 2 }]);
  });

  test('the completion line must be whole and last', () => {
    const full = `${HEADER}CREATE TABLE \`a\` (x int);\n${FOOTER}`;
    assert.equal(scan(full).completed, true);
    assert.equal(scan(full.slice(0, -1)).completed, false, 'without its newline');
    assert.equal(scan(`${full}INSERT INTO \`a\` VALUES (1);\n`).completed, false, 'followed by a statement');
    assert.equal(scan('-- Dump completed\n').completed, true, 'also with --skip-dump-date');
    assert.equal(scan("SELECT '\n-- Dump completed\n';\n").completed, false, 'inside a string');
  });

  test('garbage does not look like a dump', () => {
    const result = scan(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x27, 0x00, 0x60, 0x2d, 0x2d, 0x0a]));
    assert.equal(result.header, undefined);
    assert.equal(result.completed, false);
    assert.deepEqual(result.tables, []);
  });
});
