-- One identity, one spelling (PROTOCOL.md §4): the database must never call
-- two different normalised spellings "the same". Its collations ignore case
-- and accents, so identities are compared in columns whose collation is
-- binary, holding the gateway's own normalised forms:
--
--   email               the canonical address (ASCII, lower case, IDNA
--                       domain); now compared byte for byte;
--   username_key        the name in NFKC, lower case: which account a name
--                       means (names differing only in case stay one);
--   username_confusable the name folded for case, accents and Unicode TS #39
--   email_confusable    confusables: a new name or address that looks like a
--                       taken one is refused (UNIQUE), never matched.
--
-- `username` keeps its UNIQUE index under its old collation, so uniqueness
-- stays at least as strict as before. Rows written by the old gateway get
-- their keys from `gateway-server migrate` (and `serve`), which runs right
-- after these migrations: NFKC and TS #39 are not SQL.
UPDATE Authentication SET email = LOWER(TRIM(email)) WHERE email IS NOT NULL;

ALTER TABLE Authentication
    MODIFY email VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    ADD COLUMN username_key VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    ADD COLUMN username_confusable VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    ADD COLUMN email_confusable VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    ADD UNIQUE INDEX authentication_username_key (username_key),
    ADD UNIQUE INDEX authentication_username_confusable (username_confusable),
    ADD UNIQUE INDEX authentication_email_confusable (email_confusable);
