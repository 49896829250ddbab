"""Shopify product CSV exports in both header dialects (real header rows from Shopify's
templates), written from one catalog."""

import csv
import io

LEGACY_HEADER = (
    "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,"
    "Option2 Name,Option2 Value,Option3 Name,Option3 Value,Variant SKU,Variant Grams,Variant Inventory Tracker,"
    "Variant Inventory Qty,Variant Inventory Policy,Variant Fulfillment Service,Variant Price,"
    "Variant Compare At Price,Variant Requires Shipping,Variant Taxable,Variant Barcode,Image Src,"
    "Image Position,Image Alt Text,Gift Card,SEO Title,SEO Description,Variant Image,Variant Weight Unit,"
    "Variant Tax Code,Cost per item,Status").split(",")
CURRENT_HEADER = (
    "Title,URL handle,Description,Vendor,Product category,Type,Tags,Published on online store,Status,SKU,"
    "Barcode,Option1 name,Option1 value,Option2 name,Option2 value,Option3 name,Option3 value,Price,"
    "Compare-at price,Cost per item,Charge tax,Tax code,Inventory tracker,Inventory quantity,"
    "Continue selling when out of stock,Weight value (grams),Weight unit for display,Requires shipping,"
    "Fulfillment service,Product image URL,Image position,Image alt text,Variant image URL,Gift card,"
    "SEO title,SEO description").split(",")
# Field -> (legacy column, current column)
COLUMNS = {"handle": ("Handle", "URL handle"), "title": ("Title", "Title"), "body": ("Body (HTML)", "Description"),
           "vendor": ("Vendor", "Vendor"), "sku": ("Variant SKU", "SKU"), "price": ("Variant Price", "Price"),
           "image": ("Image Src", "Product image URL"), "position": ("Image Position", "Image position"),
           "variant_image": ("Variant Image", "Variant image URL"), "status": ("Status", "Status"),
           "option": ("Option1 Value", "Option1 value")}
CDN = "https://cdn.shopify.example/files"
# One catalog, as Shopify exports it: product-level cells on the first row only.
ROWS = [
    {"handle": "organic-tee", "title": "Tee, organic", "body": 'Soft "heavy" cotton,\nmade to last',
     "vendor": "Acme", "sku": "T-S", "price": "19.00", "image": f"{CDN}/tee-back.jpg", "position": "2",
     "status": "active", "option": "S"},
    {"handle": "organic-tee", "sku": "T-M", "price": "19.00", "image": f"{CDN}/tee-front.jpg", "position": "1",
     "variant_image": f"{CDN}/tee-red.jpg", "option": "M"},
    {"handle": "organic-tee", "sku": "T-L", "price": "21.00", "variant_image": f"{CDN}/tee-front.jpg",
     "option": "L"},
    {"handle": "draft-cap", "title": "Cap", "vendor": "Acme", "sku": "C-1", "price": "9.00",
     "image": f"{CDN}/cap.jpg", "position": "1", "status": "draft"},
    {"handle": "old-hat", "title": "Hat", "image": f"{CDN}/hat.jpg", "position": "1", "status": "archived"},
    {"handle": "mug", "title": "Mug", "sku": "M-1", "price": "12.50", "image": f"{CDN}/mug.jpg",
     "position": "1", "status": "Active"},
]


def write_export(path, dialect: int, rows=ROWS, header=None):
    header = header or (LEGACY_HEADER, CURRENT_HEADER)[dialect]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({COLUMNS[k][dialect]: v for k, v in row.items() if COLUMNS[k][dialect] in header})
    path.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8", newline="")
    return path
