-- The three tables of the original chat system (PROTOCOL.md §4). Other
-- services read them: table names, column names and keys must not change.
-- IF NOT EXISTS: a database made by the old C++ deployment already has them,
-- and must adopt this migration without a flag day.
CREATE TABLE IF NOT EXISTS Authentication (
    uuid INT AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(50) NOT NULL UNIQUE,
    password VARCHAR(255) NOT NULL,
    email VARCHAR(100) UNIQUE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS UserProfile (
    uuid INT PRIMARY KEY,
    avatar VARCHAR(255),
    nickname VARCHAR(50),
    description TEXT,
    sex BOOL,
    FOREIGN KEY (uuid) REFERENCES Authentication(uuid) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS FriendRequest (
    id INT AUTO_INCREMENT PRIMARY KEY,
    src_uuid INT NOT NULL,
    dst_uuid INT NOT NULL,
    nickname VARCHAR(255),
    message VARCHAR(255),
    status BOOL,
    FOREIGN KEY (src_uuid) REFERENCES Authentication(uuid) ON DELETE CASCADE,
    FOREIGN KEY (dst_uuid) REFERENCES Authentication(uuid) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
