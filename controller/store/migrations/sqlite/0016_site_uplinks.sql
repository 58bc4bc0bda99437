-- Tower-to-tower links: a site whose backhaul reaches the controller
-- through a device of another site (the far end of a point-to-point link at
-- the upstream tower). Several rows = redundant paths. When the site's agent
-- goes silent while every uplink is down (or its tower silent), the site's
-- devices join that incident instead of opening one of their own.
CREATE TABLE site_uplinks (
    site_id BIGINT NOT NULL REFERENCES sites(id),
    device_id BIGINT NOT NULL REFERENCES devices(id),
    PRIMARY KEY (site_id, device_id)
);
CREATE INDEX site_uplinks_device ON site_uplinks (device_id);
