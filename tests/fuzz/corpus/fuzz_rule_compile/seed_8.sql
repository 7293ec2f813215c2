SELECT payload AS p, payload.s AS p.s -- comment
 FROM "t/#" WHERE NOT qos NOT IN (2) AND flags.retain = 'false'