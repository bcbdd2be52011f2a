DROP TABLE organization_members;
DROP TABLE users;
DROP TABLE organizations;
DROP FUNCTION codeant_touch_updated_at();
