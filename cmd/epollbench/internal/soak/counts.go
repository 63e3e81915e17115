package soak

import (
	"reflect"
	"strings"
)

// addCounts adds the counters of src into dst, the totals: every integer
// field of the struct is a count and summed, except that of a field named
// ...Max the larger is kept; a map of counts is summed key by key; a
// struct field is added field by field; other fields are left alone. One
// rule for every counter a server or a client keeps, so that a counter
// added to either is in the totals without a line here.
func addCounts[T any](dst *T, src T) {
	addValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src), "")
}

func addValue(d, s reflect.Value, name string) {
	switch d.Kind() {
	case reflect.Struct:
		for i := range d.NumField() {
			if f := d.Type().Field(i); f.IsExported() {
				addValue(d.Field(i), s.Field(i), f.Name)
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if strings.HasSuffix(name, "Max") {
			d.SetInt(max(d.Int(), s.Int()))
		} else {
			d.SetInt(d.Int() + s.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.SetUint(d.Uint() + s.Uint())
	case reflect.Map:
		if d.IsNil() && s.Len() > 0 {
			d.Set(reflect.MakeMap(d.Type()))
		}
		for it := s.MapRange(); it.Next(); {
			v := reflect.New(d.Type().Elem()).Elem()
			if cur := d.MapIndex(it.Key()); cur.IsValid() {
				v.Set(cur)
			}
			addValue(v, it.Value(), name)
			d.SetMapIndex(it.Key(), v)
		}
	}
}
