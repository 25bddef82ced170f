-- Runs once, when the data folder (.emulator/data/mysql) is new: after `emulator reset mysql` again.
CREATE TABLE notes (
  id INT AUTO_INCREMENT PRIMARY KEY,
  text VARCHAR(200) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO notes (text) VALUES ('welcome (from db/schema.sql)');
