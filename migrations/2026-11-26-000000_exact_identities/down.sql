ALTER TABLE Authentication
    DROP INDEX authentication_email_confusable,
    DROP INDEX authentication_username_confusable,
    DROP INDEX authentication_username_key,
    DROP COLUMN email_confusable,
    DROP COLUMN username_confusable,
    DROP COLUMN username_key,
    MODIFY email VARCHAR(100) CHARACTER SET utf8mb4 NULL;
